package io.tether.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

/**
 * {@link EmulatedDeviceTest}'s checks on an emulated 32-bit ARM EABI device (armhf: Debian's
 * armmp-lpae kernel, qemu-system-arm -cpu cortex-a15): tetherd on a 32-bit JVM, the tracer's ARM_EABI
 * tables, PTRACE_SET_SYSCALL and the 32-bit C ABI of its JNA bindings. All 8 passed there; opt-in, since
 * its cold image took 36 minutes here, on top of the arm64 one (ARCHITECTURE.md): {@code mvn verify -pl tests -am
 * -Dtest=ArmhfDeviceE2eTest -Dsurefire.failIfNoSpecifiedTests=false -Dtether.device.armhf=true}
 * (or TETHER_DEVICE_ARMHF=1).
 */
@Tag("slow")
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class ArmhfDeviceE2eTest extends EmulatedDeviceTest {
    ArmhfDeviceE2eTest() {
        super(DeviceArch.ARMHF);
    }

    @Override
    void assumeWanted() {
        assumeTrue(Boolean.getBoolean("tether.device.armhf") || "1".equals(System.getenv("TETHER_DEVICE_ARMHF")),
                "armhf device runs are opt-in: -Dtether.device.armhf=true or TETHER_DEVICE_ARMHF=1");
    }
}
