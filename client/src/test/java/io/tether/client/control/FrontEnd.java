package io.tether.client.control;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.StreamOpen;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** A minimal session client for relay tests: stdin and stdout fd streams, then the run. */
final class FrontEnd {
    record Result(String stdout, int exit, boolean started) {}

    private FrontEnd() {}

    static Result run(Mux mux, List<String> argv, String stdin) throws IOException {
        MuxStream in = mux.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        MuxStream out = mux.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        MuxStream run = mux.open(StreamOpen.newBuilder().setRun(RunRequest.newBuilder().addAllArgv(argv)
                .addFds(FdSpec.newBuilder().setTargetFd(0).setDirection(Direction.TO_PROCESS).setStreamId(in.id()))
                .addFds(FdSpec.newBuilder().setTargetFd(1).setDirection(Direction.FROM_PROCESS).setStreamId(out.id())))
                .build());
        in.out().write(stdin.getBytes(StandardCharsets.UTF_8));
        in.closeWrite();
        String stdout = new String(out.in().readAllBytes(), StandardCharsets.UTF_8);
        boolean started = false;
        int exit = -1;
        SessionMessage m;
        while ((m = run.receive(SessionMessage.parser())) != null) {
            if (m.hasStarted()) started = true;
            if (m.hasExit()) exit = m.getExit().getCode();
        }
        return new Result(stdout, exit, started);
    }

    /** Opens a run of "wait" (never exits by itself) and returns its stream once started. */
    static MuxStream startWaiting(Mux mux) throws IOException {
        MuxStream run = mux.open(StreamOpen.newBuilder().setRun(RunRequest.newBuilder().addArgv("wait")).build());
        SessionMessage m = run.receive(SessionMessage.parser());
        if (m == null || !m.hasStarted()) throw new IOException("not started: " + m);
        return run;
    }
}
