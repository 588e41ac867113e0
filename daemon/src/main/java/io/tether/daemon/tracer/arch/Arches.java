package io.tether.daemon.tracer.arch;

import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The architectures the tracer is designed for. Syscall numbers come from the kernel's uapi headers
 * ({@code asm/unistd*.h}, checked by ArchesTest); numbers above 451 are newer than Debian bookworm's
 * headers and come from the kernel's unified syscall table (identical on all three since 424).
 */
public final class Arches {
    private Arches() {}

    private static final String NEWER_THAN_6_1 =
            "fchmodat2 452, setxattrat 463, getxattrat 464, listxattrat 465, removexattrat 466, "
            + "open_tree_attr 467, file_getattr 468, file_setattr 469";

    /** x86_64, struct user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ... */
    public static final Arch X86_64 = Arch.builder("x86_64")
            .auditArch(0xC000003E).elfMachine(62).wordSize(8).regsetSize(27 * 8)
            .reg(Reg.SYSNR, 15).reg(Reg.SYSNR_REEXEC, 10)
            .reg(Reg.ARG0, 14).reg(Reg.ARG1, 13).reg(Reg.ARG2, 12).reg(Reg.ARG3, 7).reg(Reg.ARG4, 9).reg(Reg.ARG5, 8)
            .reg(Reg.RESULT, 10).reg(Reg.STACK_POINTER, 19).reg(Reg.INSTRUCTION_POINTER, 16)
            .sysnrWrite(Arch.SysnrWrite.IN_REGISTERS)
            .syscallInsnLength(2) // syscall = 0f 05
            .redZone(128).stackAlignment(16)
            .foreignAbiBit(0x40000000) // __X32_SYSCALL_BIT
            .oNofollow(0400000).oDirectory(0200000)
            .table(SyscallTable.parse(
                    "open 2, openat 257, openat2 437, creat 85, open_by_handle_at 304, name_to_handle_at 303, stat 4, "
                    + "lstat 6, newfstatat 262, statx 332, statfs 137, access 21, faccessat 269, faccessat2 439, readlink "
                    + "89, readlinkat 267, execve 59, execveat 322, chdir 80, fchdir 81, getcwd 79, chroot 161, mkdir 83, "
                    + "mkdirat 258, rmdir 84, mknod 133, mknodat 259, unlink 87, unlinkat 263, rename 82, renameat 264, "
                    + "renameat2 316, link 86, linkat 265, symlink 88, symlinkat 266, chmod 90, fchmodat 268, chown 92, "
                    + "lchown 94, fchownat 260, truncate 76, utime 132, utimes 235, futimesat 261, utimensat 280, setxattr "
                    + "188, lsetxattr 189, getxattr 191, lgetxattr 192, listxattr 194, llistxattr 195, removexattr 197, "
                    + "lremovexattr 198, inotify_add_watch 254, fanotify_mark 301, uselib 134, acct 163, swapon 167, "
                    + "swapoff 168, quotactl 179, quotactl_fd 443, mount 165, umount2 166, pivot_root 155, open_tree 428, "
                    + "move_mount 429, fsopen 430, fsconfig 431, fspick 433, mount_setattr 442, bind 49, connect 42, prctl "
                    + "157, seccomp 317, unshare 272, clone 56, clone3 435, setns 308, "
                    + "sendto 44, recvfrom 45, sendmsg 46, recvmsg 47, accept 43, accept4 288, getsockname 51, "
                    + "getpeername 52, getdents 78, getdents64 217, sendmmsg 307, recvmmsg 299, "
                    + "fchmod 91, fchown 93, fsetxattr 190, fremovexattr 199, " + "ppoll 271, exit_group 231, rt_sigaction 13, rt_sigprocmask 14, tgkill 234, "
                    + NEWER_THAN_6_1))
            .build();

    /** aarch64, struct user_pt_regs: x0..x30 sp pc pstate. x0 is both the first argument and the result. */
    public static final Arch AARCH64 = Arch.builder("aarch64")
            .auditArch(0xC00000B7).elfMachine(183).wordSize(8).regsetSize(34 * 8)
            .reg(Reg.SYSNR, 8).reg(Reg.SYSNR_REEXEC, 8)
            .reg(Reg.ARG0, 0).reg(Reg.ARG1, 1).reg(Reg.ARG2, 2).reg(Reg.ARG3, 3).reg(Reg.ARG4, 4).reg(Reg.ARG5, 5)
            .reg(Reg.RESULT, 0).reg(Reg.STACK_POINTER, 31).reg(Reg.INSTRUCTION_POINTER, 32)
            .sysnrWrite(Arch.SysnrWrite.ARM_SYSTEM_CALL_REGSET)
            .syscallInsnLength(4) // svc #0
            .redZone(0).stackAlignment(16)
            .oNofollow(0100000).oDirectory(040000)
            .table(SyscallTable.parse(
                    "openat 56, openat2 437, open_by_handle_at 265, name_to_handle_at 264, newfstatat 79, statx 291, "
                    + "statfs 43, faccessat 48, faccessat2 439, readlinkat 78, execve 221, execveat 281, chdir 49, fchdir "
                    + "50, getcwd 17, chroot 51, mkdirat 34, mknodat 33, unlinkat 35, renameat 38, renameat2 276, linkat "
                    + "37, symlinkat 36, fchmodat 53, fchownat 54, truncate 45, utimensat 88, setxattr 5, lsetxattr 6, "
                    + "getxattr 8, lgetxattr 9, listxattr 11, llistxattr 12, removexattr 14, lremovexattr 15, "
                    + "inotify_add_watch 27, fanotify_mark 263, acct 89, swapon 224, swapoff 225, quotactl 60, quotactl_fd "
                    + "443, mount 40, umount2 39, pivot_root 41, open_tree 428, move_mount 429, fsopen 430, fsconfig 431, "
                    + "fspick 433, mount_setattr 442, bind 200, connect 203, prctl 167, seccomp 277, unshare 97, clone 220, clone3 435, setns 268, "
                    + "sendto 206, recvfrom 207, sendmsg 211, recvmsg 212, accept 202, accept4 242, getsockname 204, "
                    + "getpeername 205, getdents64 61, sendmmsg 269, recvmmsg 243, "
                    + "fchmod 52, fchown 55, fsetxattr 7, fremovexattr 16, " + "ppoll 73, exit_group 94, rt_sigaction 134, rt_sigprocmask 135, tgkill 131, "
                    + NEWER_THAN_6_1))
            .build();

    /** 32-bit ARM EABI, struct pt_regs: r0..r15 cpsr orig_r0; syscall number in r7; thumb when cpsr bit 5. */
    public static final Arch ARM_EABI = Arch.builder("arm")
            .auditArch(0x40000028).elfMachine(40).wordSize(4).regsetSize(18 * 4)
            .reg(Reg.SYSNR, 7).reg(Reg.SYSNR_REEXEC, 7)
            .reg(Reg.ARG0, 0).reg(Reg.ARG1, 1).reg(Reg.ARG2, 2).reg(Reg.ARG3, 3).reg(Reg.ARG4, 4).reg(Reg.ARG5, 5)
            .reg(Reg.RESULT, 0).reg(Reg.STACK_POINTER, 13).reg(Reg.INSTRUCTION_POINTER, 15)
            .sysnrWrite(Arch.SysnrWrite.PTRACE_SET_SYSCALL)
            .syscallInsnLength(4).thumb(16, 0x20, 2) // svc 0 (arm) / svc 0 (thumb)
            .redZone(0).stackAlignment(8)
            .oNofollow(0100000).oDirectory(040000)
            .table(SyscallTable.parse(
                    "open 5, openat 322, openat2 437, creat 8, open_by_handle_at 371, name_to_handle_at 370, stat 106, "
                    + "lstat 107, fstatat64 327, stat64 195, lstat64 196, statx 397, statfs 99, statfs64 266, access 33, "
                    + "faccessat 334, faccessat2 439, readlink 85, readlinkat 332, execve 11, execveat 387, chdir 12, "
                    + "fchdir 133, getcwd 183, chroot 61, mkdir 39, mkdirat 323, rmdir 40, mknod 14, mknodat 324, unlink "
                    + "10, unlinkat 328, rename 38, renameat 329, renameat2 382, link 9, linkat 330, symlink 83, symlinkat "
                    + "331, chmod 15, fchmodat 333, chown 182, lchown 16, chown32 212, lchown32 198, fchownat 325, "
                    + "truncate 92, truncate64 193, utimes 269, futimesat 326, utimensat 348, utimensat_time64 412, "
                    + "setxattr 226, lsetxattr 227, getxattr 229, lgetxattr 230, listxattr 232, llistxattr 233, "
                    + "removexattr 235, lremovexattr 236, inotify_add_watch 317, fanotify_mark 368, uselib 86, acct 51, "
                    + "swapon 87, swapoff 115, quotactl 131, quotactl_fd 443, mount 21, umount2 52, pivot_root 218, "
                    + "open_tree 428, move_mount 429, fsopen 430, fsconfig 431, fspick 433, mount_setattr 442, bind 282, "
                    + "connect 283, prctl 172, seccomp 383, unshare 337, clone 120, clone3 435, setns 375, "
                    + "sendto 290, recvfrom 292, sendmsg 296, recvmsg 297, accept 285, accept4 366, getsockname 286, "
                    + "getpeername 287, getdents 141, getdents64 217, sendmmsg 374, recvmmsg 365, recvmmsg_time64 417, "
                    + "fchmod 94, fchown 95, fchown32 207, fsetxattr 228, "
                    + "fremovexattr 237, " + "ppoll 336, exit_group 248, rt_sigaction 174, rt_sigprocmask 175, tgkill 268, "
                    + NEWER_THAN_6_1))
            .build();

    public static List<Arch> all() {
        return List.of(X86_64, AARCH64, ARM_EABI);
    }

    /** The architecture this JVM runs on, if the tracer supports it. */
    public static Optional<Arch> host() {
        String osArch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        switch (osArch) {
            case "amd64": case "x86_64": return Optional.of(X86_64);
            case "aarch64": case "arm64": return Optional.of(AARCH64);
            case "arm": return Optional.of(ARM_EABI);
            default: return Optional.empty();
        }
    }
}
