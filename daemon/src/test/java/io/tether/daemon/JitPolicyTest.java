package io.tether.daemon;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The daemon's JIT policy reaches HotSpot's directive stack, and TETHERD_JIT=c2 leaves it alone. */
final class JitPolicyTest {

    @Test
    void directivesKeepC2ForTheCiphersAndExcludeItElsewhereUnlessTurnedOff() throws Exception {
        // The stack is the JVM's: a daemon another test ran in this JVM may have added ours already.
        String before = JitPolicy.directives();
        System.setProperty("tetherd.jit", "c2");
        try {
            assertFalse(JitPolicy.apply(), "tetherd.jit=c2 must leave HotSpot's default");
            assertEquals(before, JitPolicy.directives());
        } finally {
            System.clearProperty("tetherd.jit");
        }
        assertTrue(JitPolicy.apply(), "the JVM must take the directives");
        String stack = JitPolicy.directives();
        assertTrue(stack.length() > before.length(), "no directive was added");
        // the cipher directive first (first match wins), then the catch-all excluding C2
        int ciphers = stack.indexOf("com/sun/crypto/provider/*.*"), all = stack.indexOf("matching: *.*");
        assertTrue(ciphers >= 0 && all > ciphers, stack);
        int next = stack.indexOf("Directive:", all);
        String catchAll = stack.substring(all, next < 0 ? stack.length() : next);
        assertTrue(catchAll.substring(catchAll.indexOf("c2 directives")).contains("Exclude:true"), catchAll);
    }
}
