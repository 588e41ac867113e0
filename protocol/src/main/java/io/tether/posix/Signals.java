package io.tether.posix;

import java.util.Map;
import java.util.TreeMap;

/**
 * Signal names and numbers. Tether sends names on the wire because numbers are
 * per-architecture; x86_64, arm and aarch64 share the generic numbering below.
 */
public final class Signals {
    private static final String[] NAMES = {
        null, "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU",
        "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"
    };
    private static final Map<String, Integer> BY_NAME = new TreeMap<>();
    static {
        for (int i = 1; i < NAMES.length; i++) BY_NAME.put(NAMES[i], i);
    }

    public static final int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9, SIGUSR1 = 10, SIGUSR2 = 12,
            SIGPIPE = 13, SIGTERM = 15, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19, SIGTSTP = 20, SIGWINCH = 28;

    private Signals() {}

    /** "INT" for 2; "SIGRTMIN+3"-style names for real-time signals; "SIG<n>" otherwise. */
    public static String name(int signo) {
        if (signo > 0 && signo < NAMES.length) return NAMES[signo];
        if (signo >= 34 && signo <= 64) return "RTMIN+" + (signo - 34);
        return "SIG" + signo;
    }

    /** The number for a name with or without the SIG prefix; -1 if unknown. */
    public static int number(String name) {
        String n = name.startsWith("SIG") && !name.matches("SIG\\d+") ? name.substring(3) : name;
        Integer known = BY_NAME.get(n);
        if (known != null) return known;
        if (n.startsWith("RTMIN+")) {
            try {
                int k = Integer.parseInt(n.substring(6));
                return k >= 0 && k <= 30 ? 34 + k : -1;
            } catch (NumberFormatException e) {
                return -1;
            }
        }
        if (n.matches("SIG\\d+")) return Integer.parseInt(n.substring(3));
        return -1;
    }
}
