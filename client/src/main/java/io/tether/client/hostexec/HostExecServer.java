package io.tether.client.hostexec;

import io.tether.client.files.FileExport;
import io.tether.daemon.process.ThreadReaper;
import io.tether.daemon.tracer.hostexec.ElfMachine;
import io.tether.daemon.tracer.hostexec.HostCommand;
import io.tether.daemon.tracer.hostexec.LocalHostExecutor;
import io.tether.daemon.tracer.hostexec.HostPrograms;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.Signals;
import io.tether.posix.WaitStatus;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.Failure;
import io.tether.protocol.proto.FdOffset;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.HostExecOpen;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Started;
import io.tether.protocol.proto.StreamOpen;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's side of host execution over the channel (issue 5): accepts the daemon's
 * StreamOpen{host_exec} of one run, checks it ({@link HostExecGrant}), and runs the program on this
 * host with posix_spawn, its fds pipes (socketpairs for BOTH) pumped to the daemon's FdStreams at the
 * target process's fd numbers. Answers Started or Failure, forwards Signal messages to the process,
 * and sends ExitStatus once it has exited and its output reached end of file. A reset of the stream
 * (the daemon's run ended, the connection dropped) kills the process and its group, as does the end of the
 * session ({@link #close}); {@link HostPrograms}' watchdog does it if this process dies first. Every host exec is
 * logged: INFO for a run, WARN for a refusal.
 */
public final class HostExecServer implements Mux.Acceptor {
    private static final Logger log = LoggerFactory.getLogger(HostExecServer.class);
    /** The daemon opens an exec's fd streams just before it; their accepts may still be running. */
    private static final long FD_WAIT_MS = 10_000;

    private final int filesStream;
    private final HostExecGrant grant;
    private final Map<Integer, MuxStream> fdStreams = new HashMap<>();
    /** Host programs still running, by pid: {@link #close} kills them. */
    private final HostPrograms programs = new HostPrograms();

    /**
     * @param filesStream  the run's files stream id (a HostExecOpen naming another is refused)
     * @param exports      the run's exports: the only trees whose programs may run
     * @param globs        the run's --host-exec globs
     * @param targetArch   the machine of the run's programs (the daemon's hello), for the ELF-machine route; null:
     *                     unknown or foreign to every host (-q), so an ELF of this host's machine may run here
     */
    public HostExecServer(int filesStream, List<FileExport> exports, List<String> globs, String targetArch) {
        this.filesStream = filesStream;
        int here = ElfMachine.ofArchName(System.getProperty("os.arch"));
        this.grant = new HostExecGrant(exports, globs, here, targetArch == null ? ElfMachine.NONE : ElfMachine.ofArchName(targetArch));
    }

    @Override
    public void accept(MuxStream stream, StreamOpen open) {
        switch (open.getKindCase()) {
            case FD -> {
                synchronized (fdStreams) {
                    fdStreams.put(stream.id(), stream);
                    fdStreams.notifyAll();
                }
            }
            case HOST_EXEC -> {
                if (programs.closed()) stream.reset(ResetCode.RESET_REFUSED, "the run is over");
                else run(stream, open.getHostExec());
            }
            default -> stream.reset(ResetCode.RESET_REFUSED, "the client accepts no " + open.getKindCase() + " stream");
        }
    }

    private void run(MuxStream exec, HostExecOpen req) {
        List<HostFds.Wired> wired = new ArrayList<>();
        try {
            for (FdSpec f : req.getFdsList()) {
                MuxStream s = claim(f.getStreamId());
                if (s == null) throw new ErrnoException(Errno.EIO, "host exec", "fd stream " + f.getStreamId() + " never opened");
                try {
                    wired.add(HostFds.wire(f.getTargetFd(), f.getDirection(), s, f.getFileCopy()));
                } catch (ErrnoException e) {
                    s.reset(ResetCode.RESET_CANCEL, "host exec did not start");
                    throw e;
                } catch (IOException e) { // a file copy that did not arrive whole
                    s.reset(ResetCode.RESET_CANCEL, "host exec did not start");
                    throw new ErrnoException(Errno.EIO, "host exec", "fd " + f.getTargetFd() + ": " + e.getMessage());
                }
            }
            if (req.getFilesStream() != filesStream) throw new ErrnoException(Errno.EACCES, "host exec", "not this run's");
            HostExecGrant.Granted g;
            try {
                g = grant.check(req.getGuestPath(), req.getCanonicalGuestPath(), req.getGuestCwd());
            } catch (ErrnoException e) {
                log.warn("host exec of {} refused ({}): {}", req.getGuestPath(), Errno.describe(e.errno()), e.getMessage());
                throw e;
            }
            Map<Integer, Integer> fds = new HashMap<>();
            for (HostFds.Wired w : wired) fds.put(w.targetFd(), w.processFd());
            HostCommand command = new HostCommand(req.getGuestPath(), req.getCanonicalGuestPath(), req.getArgvList(),
                    req.getEnvList(), req.getGuestCwd(), req.getUmask(), fds);
            programs.guard();
            int pid = LocalHostExecutor.spawn(g.hostProgram().toString(), g.hostCwd().toString(), command);
            log.info("host exec {} as {} ({}): pid {}, argv {}", req.getGuestPath(), g.hostProgram(), g.why(), pid, req.getArgvList());
            for (HostFds.Wired w : wired) w.closeProcessEnd();
            CompletableFuture<WaitStatus> reaped = new ThreadReaper().watch(pid);
            programs.add(pid, reaped);
            HostFds pumps = HostFds.pump(wired, "host-exec-" + pid);
            wired.clear();
            exec.send(SessionMessage.newBuilder().setStarted(Started.newBuilder().setPid(pid)).build());
            forwardSignals(exec, pid, reaped);
            WaitStatus status = reaped.join();
            pumps.processExited();
            Map<Integer, Long> offsets = pumps.readOffsets();
            pumps.outputDone().join();
            log.debug("host exec {} pid {}: {}, file copies read to {}", req.getGuestPath(), pid, status, offsets);
            ExitStatus.Builder exit = exitOf(status).toBuilder();
            offsets.forEach((fd, at) -> exit.addReadOffsets(FdOffset.newBuilder().setTargetFd(fd).setOffset(at)));
            exec.send(SessionMessage.newBuilder().setExit(exit).build(), true);
        } catch (ErrnoException e) {
            fail(exec, e.errno(), e.getMessage());
        } catch (IOException e) {
            log.debug("host exec {}: {}", req.getGuestPath(), e.getMessage());
        } finally {
            for (HostFds.Wired w : wired) w.abandon();
        }
    }

    /**
     * The session is over (the client is about to exit): no more host execs, and the host programs still
     * running are killed, so none outlives the run on this side even when the daemon's reset never comes.
     */
    public void close() {
        programs.close();
    }

    /** Signal messages to the process until the stream ends; a reset (the run or connection ended) kills it. */
    private static void forwardSignals(MuxStream exec, int pid, CompletableFuture<WaitStatus> reaped) {
        Thread t = new Thread(() -> {
            try {
                for (SessionMessage m; (m = exec.receive(SessionMessage.parser())) != null; ) {
                    if (m.getKindCase() != SessionMessage.KindCase.SIGNAL) continue;
                    int signo = Signals.number(m.getSignal().getName());
                    if (signo > 0) HostPrograms.kill(pid, signo, reaped);
                }
            } catch (IOException e) {
                if (!reaped.isDone()) log.debug("host exec pid {}: stream ended ({}): killing it", pid, e.getMessage());
                HostPrograms.killGroup(pid, reaped);
            }
        }, "host-exec-signals-" + pid);
        t.setDaemon(true);
        t.start();
    }

    private static ExitStatus exitOf(WaitStatus s) {
        return s.signaled() ? ExitStatus.newBuilder().setSignal(Signals.name(s.termSignal())).setSignalNumber(s.termSignal()).build()
                : ExitStatus.newBuilder().setCode(s.exitCode()).build();
    }

    private static void fail(MuxStream exec, int errno, String message) {
        try {
            exec.send(SessionMessage.newBuilder().setFailure(Failure.newBuilder().setErrno(errno).setMessage(message).setExec(true))
                    .build(), true);
        } catch (IOException e) {
            log.debug("host exec failure not sent: {}", e.getMessage());
        }
    }

    private MuxStream claim(int id) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(FD_WAIT_MS);
        synchronized (fdStreams) {
            while (true) {
                MuxStream s = fdStreams.remove(id);
                if (s != null) return s;
                long left = deadline - System.nanoTime();
                if (left <= 0) return null;
                try {
                    TimeUnit.NANOSECONDS.timedWait(fdStreams, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
        }
    }
}
