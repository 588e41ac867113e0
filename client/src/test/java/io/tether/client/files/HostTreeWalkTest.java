package io.tether.client.files;

/** {@link HostTreeTest} again with paths resolved by the O_NOFOLLOW walk instead of openat2. */
class HostTreeWalkTest extends HostTreeTest {
    @Override
    boolean walk() {
        return true;
    }
}
