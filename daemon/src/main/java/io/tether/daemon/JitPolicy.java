package io.tether.daemon;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.management.JMException;
import javax.management.ObjectName;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Keeps HotSpot's C2 compiler to the code whose speed is C2's (resource {@code jit-directives.json}):
 * ciphers, MACs, checksums, LZ4, key exchange arithmetic. Why: on the device's few cores a young daemon's C2 compiled the
 * mirror's cold path for seconds (Tree.apply0 0.7 s, ReadAhead.dirOpened 0.7 s, MirrorSession.ensureListed
 * 0.6 s of compiler CPU each, measured with JFR on 2 cores) while the run it was compiling for waited for
 * that CPU; C1's code for the rest is as fast in a daemon that mostly waits on syscalls, and the JDK's
 * AES-GCM and GHASH intrinsics, which the SSH channel needs, are C2's alone. Applied through the
 * DiagnosticCommand MBean (jcmd's Compiler.directives_add), so every launcher (bin/tetherd, systemd, the
 * device image, tests embedding the daemon) gets it; {@code TETHERD_JIT=c2} (or -Dtetherd.jit=c2) leaves
 * HotSpot's default. Never fatal: a JVM without the command runs with its default.
 */
public final class JitPolicy {
    private static final Logger log = LoggerFactory.getLogger(JitPolicy.class);
    static final String RESOURCE = "jit-directives.json";

    private JitPolicy() {}

    /** Adds the directives unless turned off; true when the JVM took them. */
    public static boolean apply() {
        String choice = System.getProperty("tetherd.jit", System.getenv().getOrDefault("TETHERD_JIT", ""));
        if (choice.equals("c2")) {
            log.debug("JIT: HotSpot's default (TETHERD_JIT=c2)");
            return false;
        }
        Path file = null;
        try (InputStream in = JitPolicy.class.getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IOException("resource " + RESOURCE + " missing");
            file = Files.createTempFile("tetherd-jit", ".json");
            Files.write(file, in.readAllBytes());
            String said = diagnosticCommand("compilerDirectivesAdd", file.toString()).trim();
            if (!said.contains("directives added")) throw new IOException("the JVM said: " + said);
            log.debug("JIT: C2 only for ciphers, MACs, checksums, LZ4 and key exchange arithmetic ({})", said);
            return true;
        } catch (Exception | LinkageError e) {
            log.warn("JIT: cannot add compiler directives, HotSpot's default stays: {}", e.toString());
            return false;
        } finally {
            if (file != null) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException ignored) {
                    // a temp file left behind
                }
            }
        }
    }

    /** What the JVM's directive stack holds now (jcmd's Compiler.directives_print). */
    static String directives() throws JMException {
        return diagnosticCommand("compilerDirectivesPrint");
    }

    /** One of jcmd's commands, by its DiagnosticCommand MBean operation name; what it printed. */
    private static String diagnosticCommand(String operation, String... arguments) throws JMException {
        return String.valueOf(ManagementFactory.getPlatformMBeanServer().invoke(
                new ObjectName("com.sun.management:type=DiagnosticCommand"), operation,
                new Object[] {arguments}, new String[] {String[].class.getName()}));
    }
}
