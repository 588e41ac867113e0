package io.tether.e2e;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

/** {@link EmulatedDeviceTest}'s checks on an emulated arm64 device (Debian's arm64 kernel, cortex-a72). */
@Tag("slow")
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class DeviceE2eTest extends EmulatedDeviceTest {
    DeviceE2eTest() {
        super(DeviceArch.ARM64);
    }
}
