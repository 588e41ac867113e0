package io.tether.daemon.tracer.handler;

/** What happens to a trapped syscall after its handler ran at the entry stop. */
public enum Disposition {
    /** Let the kernel run it, with whatever arguments the handler rewrote. */
    RUN,
    /** Run it and stop again at its exit, for the handler to translate the result. */
    RUN_AND_STOP_AT_EXIT,
    /** Do not run it: the tracee sees the result the handler set (a value or -errno). */
    SKIP
}
