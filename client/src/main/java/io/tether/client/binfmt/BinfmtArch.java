package io.tether.client.binfmt;

import io.tether.client.TetherException;

import java.util.List;

/**
 * An ELF machine binfmt_misc can hand to Tether: the kernel's magic and mask for its executables (the values of
 * qemu's qemu-binfmt-conf.sh: e_ident through e_machine, e_type's low bit masked so ET_EXEC and ET_DYN both match).
 *
 * @param name    qemu's name for it ({@code aarch64}), also the handler's suffix: {@code tether-aarch64}
 * @param aliases other accepted spellings (Debian's architecture names)
 */
public record BinfmtArch(String name, List<String> aliases, String magic, String mask) {
    private static final String MASK_64 = "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff";

    public static final List<BinfmtArch> ALL = List.of(
            new BinfmtArch("aarch64", List.of("arm64"),
                    "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00", MASK_64),
            new BinfmtArch("arm", List.of("armhf", "armel"),
                    "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00", MASK_64),
            new BinfmtArch("riscv64", List.of(),
                    "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00", MASK_64));

    /** The architecture called {@code name} (qemu's or Debian's spelling). */
    public static BinfmtArch of(String name) throws TetherException {
        for (BinfmtArch a : ALL) {
            if (a.name.equals(name) || a.aliases.contains(name)) return a;
        }
        throw new TetherException("--arch " + name + ": unknown; want one of "
                + String.join(", ", ALL.stream().map(BinfmtArch::name).toList()));
    }

    /** The handler's name in binfmt_misc. */
    public String entryName() {
        return "tether-" + name;
    }

    /** The kernel's "magic" line of an entry, as binfmt_misc shows it: hex digits without escapes. */
    public String shownMagic() {
        return magic.replace("\\x", "").replace("ELF", "454c46");
    }
}
