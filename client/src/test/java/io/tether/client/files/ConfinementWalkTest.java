package io.tether.client.files;

/** {@link ConfinementTest}'s attacks against the O_NOFOLLOW walk, the fallback where openat2 is missing. */
class ConfinementWalkTest extends ConfinementTest {
    @Override
    boolean walk() {
        return true;
    }
}
