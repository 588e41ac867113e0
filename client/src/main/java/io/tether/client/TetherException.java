package io.tether.client;

/**
 * A failure of Tether itself before or around a session (bad target, refused connection,
 * unknown host key...). The message is one line for the user: it names the cause and the
 * fix; the CLI prints it as {@code tether: MESSAGE} and exits with 255.
 */
public final class TetherException extends Exception {
    public TetherException(String message) {
        super(message);
    }

    public TetherException(String message, Throwable cause) {
        super(message, cause);
    }
}
