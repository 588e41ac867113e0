package io.tether.daemon.tracer.arch;

import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * One architecture's raw syscall numbers for the logical {@link Sys} calls, both ways. Built from a
 * data string of {@code "name number"} pairs so a new architecture is a table, not code.
 */
public final class SyscallTable {
    private final Map<Sys, Integer> numbers;
    private final Map<Integer, Sys> byNumber;

    private SyscallTable(Map<Sys, Integer> numbers) {
        this.numbers = Collections.unmodifiableMap(numbers);
        Map<Integer, Sys> reverse = new HashMap<>();
        numbers.forEach((sys, nr) -> {
            Sys clash = reverse.put(nr, sys);
            if (clash != null) throw new IllegalArgumentException("number " + nr + " for both " + clash + " and " + sys);
        });
        this.byNumber = Collections.unmodifiableMap(reverse);
    }

    /** Parses {@code "openat 257, stat 4, ..."} (commas optional; names as in {@code __NR_<name>}). */
    public static SyscallTable parse(String data) {
        Map<Sys, Integer> numbers = new EnumMap<>(Sys.class);
        String[] words = data.trim().split("[\\s,]+");
        if (words.length % 2 != 0) throw new IllegalArgumentException("odd number of words in syscall table");
        for (int i = 0; i < words.length; i += 2) {
            Sys sys = Sys.valueOf(words[i].toUpperCase(java.util.Locale.ROOT));
            if (numbers.put(sys, Integer.parseInt(words[i + 1])) != null) {
                throw new IllegalArgumentException("duplicate entry " + words[i]);
            }
        }
        return new SyscallTable(numbers);
    }

    /** The logical syscall for a raw number, if it is one the tracer knows. */
    public Optional<Sys> sys(int number) {
        return Optional.ofNullable(byNumber.get(number));
    }

    /** Faster variant of {@link #sys(int)} for the stop path: null if unknown. */
    public Sys sysOrNull(int number) {
        return byNumber.get(number);
    }

    /** The raw number, or -1 if this architecture has no such syscall. */
    public int number(Sys sys) {
        Integer nr = numbers.get(sys);
        return nr == null ? -1 : nr;
    }

    public Map<Sys, Integer> numbers() {
        return numbers;
    }
}
