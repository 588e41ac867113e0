package io.tether.daemon.tracer.hostexec;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.Signals;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.FdOffset;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.HostExecOpen;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Signal;
import io.tether.protocol.proto.StreamOpen;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs host execs on the client's machine, over the connection ("No NFS" targets, where the host is
 * the client): per exec one daemon-opened FdStream per fd the target process keeps, then
 * StreamOpen{host_exec} naming them (protocol: {@code HostExecOpen}). The client answers Started or
 * Failure (whose errno the execve fails with), later ExitStatus; signals go as Signal messages.
 *
 * <p>{@link #start} blocks its caller (the tracer) for one round trip, the client's spawn included.
 * The exit completes only once every fd the host process wrote through has delivered its bytes to the
 * target fd: a parent that sees the exit also sees the output.
 */
public final class RemoteHostExecutor implements HostExecutor {
    private static final Logger log = LoggerFactory.getLogger(RemoteHostExecutor.class);

    private final Mux mux;
    private final int filesStream;
    /** Exec streams of host processes still running: reset at close, which makes the client kill them. */
    private final java.util.Set<MuxStream> live = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "tether-hostexec-remote");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param mux         the connection to the client
     * @param filesStream the run's files stream id: the client maps guest paths through its exports
     */
    public RemoteHostExecutor(Mux mux, int filesStream) {
        this.mux = mux;
        this.filesStream = filesStream;
    }

    @Override
    public HostProcess start(HostCommand command) throws ErrnoException {
        List<RemoteFds.Wired> wired = new ArrayList<>();
        MuxStream exec = null;
        boolean started = false;
        try {
            HostExecOpen.Builder open = HostExecOpen.newBuilder().setFilesStream(filesStream)
                    .setGuestPath(command.guestPath()).setCanonicalGuestPath(command.canonicalGuestPath())
                    .addAllArgv(command.argv()).addAllEnv(command.env()).setGuestCwd(command.guestCwd())
                    .setUmask(command.umask());
            for (Map.Entry<Integer, Integer> e : command.fds().entrySet()) {
                Direction d = RemoteFds.direction(e.getKey(), e.getValue());
                if (d == null) continue; // closed below
                long copyFrom = d == Direction.TO_PROCESS ? RemoteFds.copyStart(e.getValue()) : -1;
                MuxStream s = mux.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
                RemoteFds.Wired w = new RemoteFds.Wired(e.getKey(), e.getValue(), d, s, copyFrom);
                wired.add(w);
                if (w.fileCopy()) RemoteFds.sendCopy(w, threads);
                open.addFds(FdSpec.newBuilder().setTargetFd(e.getKey()).setDirection(d).setStreamId(s.id()).setFileCopy(w.fileCopy()));
            }
            exec = mux.open(StreamOpen.newBuilder().setHostExec(open).build());
            SessionMessage first = exec.receive(SessionMessage.parser());
            if (first == null || first.getKindCase() == SessionMessage.KindCase.FAILURE) {
                int errno = first == null ? Errno.EIO : first.getFailure().getErrno();
                String why = first == null ? "the client ended the stream" : first.getFailure().getMessage();
                throw new ErrnoException(errno == 0 ? Errno.EIO : errno, "host exec " + command.guestPath(), why);
            }
            if (first.getKindCase() != SessionMessage.KindCase.STARTED) {
                throw new ErrnoException(Errno.EIO, "host exec " + command.guestPath(), "unexpected " + first.getKindCase());
            }
            Remote p = new Remote(exec, command.guestPath(), first.getStarted().getPid(), RemoteFds.pump(wired, threads));
            started = true; // the pumps own the fds now
            MuxStream s = exec;
            live.add(s);
            p.exit.whenComplete((x, e) -> live.remove(s));
            threads.execute(p::awaitExit);
            return p;
        } catch (ErrnoException e) {
            throw e;
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "host exec " + command.guestPath(), "connection: " + e.getMessage());
        } finally {
            // The executor owns every fd: the pumps close the wired ones once started; the rest go here.
            for (int fd : command.fds().values()) {
                boolean pumped = started && wired.stream().anyMatch(w -> w.daemonFd() == fd);
                if (!pumped) LibC.closeQuietly(fd);
            }
            if (!started) {
                for (RemoteFds.Wired w : wired) w.stream().reset(ResetCode.RESET_CANCEL, "host exec did not start");
                if (exec != null) exec.reset(ResetCode.RESET_CANCEL, "host exec did not start");
            }
        }
    }

    @Override
    public void close() {
        for (MuxStream s : live) s.reset(ResetCode.RESET_CANCEL, "the run ended");
        threads.shutdown();
    }

    /** A host process on the client: its exit is the ExitStatus message once the fds it wrote are drained. */
    private static final class Remote implements HostProcess {
        private final MuxStream exec;
        private final String guestPath;
        private final int pid;
        private final RemoteFds fds;
        private final CompletableFuture<HostExit> exit = new CompletableFuture<>();

        Remote(MuxStream exec, String guestPath, int pid, RemoteFds fds) {
            this.exec = exec;
            this.guestPath = guestPath;
            this.pid = pid;
            this.fds = fds;
        }

        void awaitExit() {
            HostExit how = HostExit.killed(Signals.SIGKILL); // a lost stream reads as SIGKILL
            Map<Integer, Long> offsets = new java.util.HashMap<>();
            try {
                for (SessionMessage m; (m = exec.receive(SessionMessage.parser())) != null; ) {
                    if (m.getKindCase() == SessionMessage.KindCase.EXIT) {
                        how = of(m.getExit());
                        for (FdOffset o : m.getExit().getReadOffsetsList()) offsets.put(o.getTargetFd(), o.getOffset());
                        break;
                    }
                }
            } catch (IOException e) {
                log.debug("host exec {}: {}", guestPath, e.getMessage());
            }
            fds.hostExited();
            fds.settleCopies(offsets); // before the exit completes: the target reads on where the program stopped
            HostExit result = how;
            fds.outputDone().whenComplete((v, e) -> exit.complete(result));
        }

        private static HostExit of(ExitStatus s) {
            if (s.getHowCase() == ExitStatus.HowCase.SIGNAL) {
                int n = Signals.number(s.getSignal());
                return HostExit.killed(n > 0 ? n : Signals.SIGKILL);
            }
            return HostExit.exited(s.getCode());
        }

        @Override
        public CompletableFuture<HostExit> exit() {
            return exit;
        }

        @Override
        public void signal(int signo) {
            if (exit.isDone()) return;
            String name = Signals.name(signo);
            try {
                exec.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName(name)).build());
            } catch (IOException e) {
                log.debug("signal {} to host exec {}: {}", name, guestPath, e.getMessage());
            }
        }

        @Override
        public String describe() {
            return guestPath + " (client pid " + pid + ")";
        }
    }
}
