package io.tether.daemon.session;

import io.tether.daemon.files.HostFiles;
import io.tether.posix.ErrnoException;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.FilesOpen;

/**
 * Builds the daemon's side of the client's host file server ("No NFS") from the files stream the
 * client opened ({@code StreamOpen{files}}) and its bulk-reply stream ({@code StreamOpen{files_data}}, null
 * when the client opened none): the RPC stub in production, an in-process double in tests.
 * The result is owned by the guest run that asked for it and closed with it.
 */
@FunctionalInterface
public interface HostFilesConnector {
    HostFiles connect(MuxStream stream, FilesOpen open, MuxStream data) throws ErrnoException;
}
