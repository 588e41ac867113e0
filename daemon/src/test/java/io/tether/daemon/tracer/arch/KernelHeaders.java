package io.tether.daemon.tracer.arch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the kernel's syscall numbering from the uapi headers Debian ships (linux-libc-dev and the
 * linux-libc-dev-ARCH-cross packages), expanding them with the C preprocessor as the target's compiler
 * would: the generic header defines numbers conditionally and through other macros.
 */
final class KernelHeaders {
    private KernelHeaders() {}

    /** Include directory and predefined macros per architecture. */
    static Path includeDir(Arch arch) {
        switch (arch.name()) {
            case "x86_64": return Path.of("/usr/include/x86_64-linux-gnu");
            case "aarch64": return Path.of("/usr/aarch64-linux-gnu/include");
            case "arm": return Path.of("/usr/arm-linux-gnueabihf/include");
            default: throw new IllegalArgumentException(arch.name());
        }
    }

    static List<String> defines(Arch arch) {
        switch (arch.name()) {
            case "x86_64": return List.of("-D__x86_64__");
            case "aarch64": return List.of("-D__aarch64__");
            case "arm": return List.of("-D__arm__", "-D__ARM_EABI__");
            default: throw new IllegalArgumentException(arch.name());
        }
    }

    static boolean available(Arch arch) {
        return Files.isRegularFile(includeDir(arch).resolve("asm/unistd.h")) && cppAvailable();
    }

    static boolean cppAvailable() {
        try {
            Process p = new ProcessBuilder("cpp", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    /** Every {@code __NR_name} the header defines for this arch, with its numeric value. */
    static Map<String, Integer> syscallNumbers(Arch arch) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("unistd");
        try {
            Path probe = dir.resolve("probe.c");
            Files.writeString(probe, "#include <asm/unistd.h>\n");
            List<String> names = new ArrayList<>();
            Matcher m = Pattern.compile("(?m)^#define __NR_(\\w+) ").matcher(cpp(arch, probe, true));
            while (m.find()) names.add(m.group(1));
            StringBuilder expand = new StringBuilder("#include <asm/unistd.h>\n");
            for (String name : names) expand.append("NR ").append(name).append(" __NR_").append(name).append('\n');
            Files.writeString(probe, expand);
            Map<String, Integer> numbers = new HashMap<>();
            Pattern line = Pattern.compile("^NR (\\w+) (.*)$");
            for (String l : cpp(arch, probe, false).split("\n")) {
                Matcher lm = line.matcher(l.trim());
                if (!lm.matches()) continue;
                Integer value = evaluate(lm.group(2));
                // Skip helper macros (__NR_SYSCALL_BASE, __NR_syscalls, __NR_arch_specific_syscall).
                boolean helper = !lm.group(1).equals(lm.group(1).toLowerCase(java.util.Locale.ROOT))
                        || lm.group(1).equals("syscalls") || lm.group(1).equals("arch_specific_syscall");
                if (value != null && !helper) numbers.put(lm.group(1), value);
            }
            return numbers;
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : (Iterable<Path>) files::iterator) Files.delete(p);
            }
            Files.delete(dir);
        }
    }

    /** The numeric value of one macro after including {@code header}, or null. */
    static Integer macroValue(Arch arch, String header, String macro) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("macro");
        Path probe = dir.resolve("probe.c");
        try {
            Files.writeString(probe, "#include <" + header + ">\nVALUE " + macro + "\n");
            for (String l : cpp(arch, probe, false).split("\n")) {
                if (l.startsWith("VALUE ")) return evaluate(l.substring(6));
            }
            return null;
        } finally {
            Files.deleteIfExists(probe);
            Files.delete(dir);
        }
    }

    private static String cpp(Arch arch, Path source, boolean dumpMacros) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("cpp", "-nostdinc", "-P", "-I" + includeDir(arch)));
        // asm-generic and linux/ of the native headers live one level up.
        if (arch.name().equals("x86_64")) cmd.add("-I/usr/include");
        cmd.addAll(defines(arch));
        if (dumpMacros) cmd.add("-dM");
        cmd.add(source.toString());
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IOException("cpp failed: " + cmd);
        return out;
    }

    /** Evaluates sums of decimal/hex literals in parentheses, as the headers write them; null otherwise. */
    static Integer evaluate(String expr) {
        String e = expr.replaceAll("[()\\s]", "");
        if (!e.matches("(0x[0-9a-fA-F]+|\\d+)(\\+(0x[0-9a-fA-F]+|\\d+))*")) return null;
        int sum = 0;
        for (String term : e.split("\\+")) {
            if (term.startsWith("0x")) sum += Integer.parseInt(term.substring(2), 16);
            else if (term.length() > 1 && term.startsWith("0")) sum += Integer.parseInt(term.substring(1), 8);
            else sum += Integer.parseInt(term);
        }
        return sum;
    }
}
