package io.flowget.job.cli;

/**
 * A usage problem (bad flags, an unreadable input file): the command prints {@code flowget: <message>} and exits
 * {@link ExitCodes#USAGE}. Thrown by the commands while they check their flags, before any work starts.
 *
 * <p>Immutable; thrown and caught on the command's thread.
 */
public final class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }
}
