package io.tether.daemon.guest;

import java.util.ArrayList;
import java.util.List;

/** Lexical helpers on absolute, slash-separated paths. No file system access. */
public final class GuestPaths {
    private GuestPaths() {}

    /** Lexically normalised absolute path: "/a//b/./c/../d/" -> "/a/b/d". */
    public static String normalizeAbsolute(String path, String what) {
        if (path == null || !path.startsWith("/")) throw new IllegalArgumentException(what + " must be absolute: " + path);
        List<String> parts = new ArrayList<>();
        for (String c : path.split("/")) {
            if (c.isEmpty() || c.equals(".")) continue;
            if (c.equals("..")) {
                if (!parts.isEmpty()) parts.remove(parts.size() - 1);
            } else {
                parts.add(c);
            }
        }
        return join(parts);
    }

    static String join(List<String> components) {
        if (components.isEmpty()) return "/";
        StringBuilder b = new StringBuilder();
        for (String c : components) b.append('/').append(c);
        return b.toString();
    }

    /** Whether {@code path} is {@code prefix} or below it, component-wise. */
    public static boolean isUnder(String path, String prefix) {
        if (prefix.equals("/")) return path.startsWith("/");
        return path.equals(prefix) || (path.startsWith(prefix) && path.charAt(prefix.length()) == '/');
    }

    /** {@code base} + the part of {@code path} below {@code prefix}. */
    public static String rebase(String path, String prefix, String base) {
        String rest = prefix.equals("/") ? path : path.substring(prefix.length());
        if (rest.isEmpty() || rest.equals("/")) return base;
        return base.equals("/") ? rest : base + rest;
    }
}
