package io.tether.daemon.tracer.handler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.ErrnoException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class HandlersTest {
    static List<Arch> arches() {
        return Arches.all();
    }

    @ParameterizedTest
    @MethodSource("arches")
    void everyTrappedSyscallOfTheArchHasAHandler(Arch arch) {
        Handlers h = Handlers.standard(arch);
        List<String> missing = new ArrayList<>();
        arch.table().numbers().keySet().forEach(sys -> {
            if (sys.trapped() && h.get(sys) == null) missing.add(sys.kernelName());
        });
        assertEquals(List.of(), missing);
    }

    @Test
    void withoutRemovesOneHandlerOnly() {
        Handlers h = Handlers.standard(Arches.X86_64).without(Sys.MKDIR);
        assertNull(h.get(Sys.MKDIR));
        assertEquals(Handlers.standard(Arches.X86_64).all().size() - 1, h.all().size());
    }

    @Test
    void shebangLinesSplitAsTheKernelDoes() throws Exception {
        assertEquals(List.of("/bin/sh", "null"), split("#!/bin/sh\necho"));
        assertEquals(List.of("/usr/bin/env", "python3 -u"), split("#!  /usr/bin/env   python3 -u  \n"));
        assertEquals(List.of("/bin/x", "null"), split("#!/bin/x\r\n"));
    }

    @Test
    void anEmptyShebangLineIsNotExecutable() {
        assertEquals(io.tether.posix.Errno.ENOEXEC,
                org.junit.jupiter.api.Assertions.assertThrows(ErrnoException.class, () -> split("#!   \n")).errno());
    }

    private static List<String> split(String head) throws ErrnoException {
        String[] s = ExecPlanner.shebang(head.getBytes(StandardCharsets.ISO_8859_1));
        return List.of(s[0], String.valueOf(s[1]));
    }
}
