package io.tether.client.env;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EnvironmentPolicyTest {
    private static Map<String, String> client() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", "/usr/bin:/bin");
        env.put("HOME", "/home/me");
        env.put("CC", "arm-linux-gcc");
        env.put("SSH_AUTH_SOCK", "/tmp/agent");
        env.put("SSH_CONNECTION", "1 2 3 4");
        env.put("DISPLAY", ":0");
        env.put("XDG_SESSION_ID", "3");
        env.put("XDG_RUNTIME_DIR", "/run/user/1000");
        env.put("XDG_DATA_DIRS", "/usr/share");
        env.put("TETHER_TARGET", "dev");
        env.put("SHLVL", "2");
        env.put("_", "/usr/bin/tether");
        env.put("OLDPWD", "/tmp");
        env.put("PWD", "/home/me/src");
        env.put("JAVA_TOOL_OPTIONS", "-Xmx1g");
        return env;
    }

    private static Map<String, String> asMap(List<String> env) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String e : env) {
            int eq = e.indexOf('=');
            m.put(e.substring(0, eq), e.substring(eq + 1));
        }
        return m;
    }

    @Test
    void passesOrdinaryVariablesAndDropsHostSessionOnes() {
        Map<String, String> env = asMap(EnvironmentPolicy.build(client(), "/work", Map.of(), List.of()));
        assertEquals("/usr/bin:/bin", env.get("PATH"));
        assertEquals("arm-linux-gcc", env.get("CC"));
        assertEquals("/usr/share", env.get("XDG_DATA_DIRS"), "only XDG_SESSION_* and XDG_RUNTIME_DIR are host-only");
        for (String gone : List.of("SSH_AUTH_SOCK", "SSH_CONNECTION", "DISPLAY", "XDG_SESSION_ID", "XDG_RUNTIME_DIR",
                "TETHER_TARGET", "SHLVL", "_", "OLDPWD", "JAVA_TOOL_OPTIONS")) {
            assertFalse(env.containsKey(gone), gone + " must not reach the target");
        }
    }

    @Test
    void pwdIsTheRemoteWorkingDirectory() {
        Map<String, String> env = asMap(EnvironmentPolicy.build(client(), "/remote/dir", Map.of(), List.of()));
        assertEquals("/remote/dir", env.get("PWD"));
    }

    @Test
    void overridesApplyInOrderAfterTargetSettings() {
        Map<String, String> env = asMap(EnvironmentPolicy.build(client(), "/w",
                Map.of("CC", "target-gcc", "ARCH", "arm"), List.of("CC=clang", "EMPTY=", "CC=gcc-13", "X=a=b")));
        assertEquals("gcc-13", env.get("CC"));
        assertEquals("arm", env.get("ARCH"));
        assertEquals("", env.get("EMPTY"));
        assertEquals("a=b", env.get("X"));
    }

    @Test
    void bareNamePassesTheClientValueEvenIfDenied() {
        Map<String, String> env = asMap(EnvironmentPolicy.build(client(), "/w", Map.of(), List.of("DISPLAY", "NOT_SET_ANYWHERE")));
        assertEquals(":0", env.get("DISPLAY"));
        assertFalse(env.containsKey("NOT_SET_ANYWHERE"));
    }

    @Test
    void malformedOverrideIsRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> EnvironmentPolicy.build(client(), "/w", Map.of(), List.of("=value")));
    }

    @Test
    void denyListMatchesPrefixesAndExactNames() {
        assertTrue(EnvironmentPolicy.isDenied("SSH_TTY"));
        assertTrue(EnvironmentPolicy.isDenied("TETHER_CONFIG"));
        assertTrue(EnvironmentPolicy.isDenied("TMUX_PANE"));
        assertFalse(EnvironmentPolicy.isDenied("TMUXX"));
        assertFalse(EnvironmentPolicy.isDenied("SSHX"));
        assertFalse(EnvironmentPolicy.isDenied("LANG"));
    }
}
