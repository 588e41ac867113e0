/**
 * The tracer: runs an unmodified Linux program as if a {@link io.tether.daemon.guest.GuestView} were
 * its file system, with ptrace and an injected seccomp filter.
 *
 * <h2>Life of one trapped syscall (openat)</h2>
 * <ol>
 *   <li>The tracee calls openat; the seccomp filter ({@link io.tether.daemon.tracer.seccomp.SeccompProgram})
 *       returns SECCOMP_RET_TRACE, so the kernel stops it with PTRACE_EVENT_SECCOMP. Untrapped
 *       syscalls (read, write, mmap...) never stop.</li>
 *   <li>{@link io.tether.daemon.tracer.Tracer}'s thread wakes in waitpid(-1, __WALL|__WNOTHREAD), reads the
 *       registers (RegisterIo), maps the raw number to a logical {@link io.tether.daemon.tracer.arch.Sys}
 *       through the arch's {@link io.tether.daemon.tracer.arch.SyscallTable}, and calls the handler
 *       registered for it in {@link io.tether.daemon.tracer.handler.Handlers}.</li>
 *   <li>The handler ({@link io.tether.daemon.tracer.handler.OpenHandler}) reads the path from tracee
 *       memory (process_vm_readv), resolves it with
 *       {@link io.tether.daemon.tracer.SyscallContext#resolve} (the guest view, as chroot would), writes
 *       the host path below the tracee's stack and red zone, and points the argument at it.</li>
 *   <li>The tracer writes the registers back and resumes with PTRACE_CONT; the kernel runs openat on
 *       the host path. A handler may instead skip the call with a result or -errno (readlink and getcwd
 *       are emulated this way), or ask for the exit stop to translate a result.</li>
 * </ol>
 *
 * <h2>Adding a syscall</h2>
 * Add its kernel name to {@link io.tether.daemon.tracer.arch.Sys}, its number to each arch's table in
 * {@link io.tether.daemon.tracer.arch.Arches} (ArchesTest checks them against the kernel headers and
 * fails if an arch has it but the table does not), and register a handler in
 * {@link io.tether.daemon.tracer.handler.Handlers#standard} (HandlersTest fails if a trapped syscall has
 * none). Most path syscalls need only a {@link io.tether.daemon.tracer.handler.PathArg} description.
 * A trapped syscall without a handler is refused with ENOSYS and named once in the log.
 *
 * <h2>Adding an architecture</h2>
 * A new {@link io.tether.daemon.tracer.arch.Arch} in {@code Arches}: audit arch, register offsets,
 * how the syscall number is changed, syscall instruction length, red zone, O_NOFOLLOW and the table.
 *
 * <h2>Threads</h2>
 * One platform thread per Tracer makes every ptrace and waitpid call (the kernel accepts ptrace
 * requests only from the attaching thread). Other threads hand it the root at the spawn gate
 * ({@link io.tether.daemon.tracer.Tracer#beforeExec}) and read its futures; {@code close()} only sends
 * signals. Per-stop state lives in the one {@code SyscallContext}; per-thread state in {@code Tracee}.
 *
 * <h2>Debugging</h2>
 * TRACE level on {@code io.tether.daemon.tracer.Tracer} logs one line per trapped syscall.
 */
package io.tether.daemon.tracer;
