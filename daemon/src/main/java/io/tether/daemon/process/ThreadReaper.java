package io.tether.daemon.process;

import io.tether.posix.LibC;
import io.tether.posix.WaitStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;

/** One platform thread per child, blocked in waitpid(pid): simple and never reaps others' children. */
public final class ThreadReaper implements Reaper {
    private static final Logger log = LoggerFactory.getLogger(ThreadReaper.class);

    @Override
    public CompletableFuture<WaitStatus> watch(int pid) {
        CompletableFuture<WaitStatus> exit = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                WaitStatus s;
                do {
                    s = LibC.waitpid(pid, 0);
                } while (!s.exited() && !s.signaled());
                log.debug("{}", s);
                exit.complete(s);
            } catch (Throwable e) {
                exit.completeExceptionally(e);
            }
        }, "reap-" + pid);
        t.setDaemon(true);
        t.start();
        return exit;
    }
}
