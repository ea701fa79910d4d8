package io.flowget.job.daemon;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The daemon's framing and its files: what is written is read back, bad frames are refused, paths stay short. */
class DaemonProtocolTest {
    @TempDir Path tmp;

    @Test
    void framesRoundTripInOrder() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(buf);
        DaemonProtocol.write(out, DaemonProtocol.KIND, "run");
        DaemonProtocol.write(out, DaemonProtocol.ARG, "--urls");
        DaemonProtocol.write(out, DaemonProtocol.ARG, "ünïcode ✓");
        DaemonProtocol.write(out, DaemonProtocol.GO, "");
        DaemonProtocol.writeExit(out, 70);
        DaemonProtocol.writeExit(out, -2);

        DataInputStream in = new DataInputStream(new ByteArrayInputStream(buf.toByteArray()));
        assertThat(DaemonProtocol.read(in).text()).isEqualTo("run");
        assertThat(DaemonProtocol.read(in).text()).isEqualTo("--urls");
        DaemonProtocol.Frame f = DaemonProtocol.read(in);
        assertThat(f.type()).isEqualTo(DaemonProtocol.ARG);
        assertThat(f.text()).isEqualTo("ünïcode ✓");
        assertThat(DaemonProtocol.read(in).type()).isEqualTo(DaemonProtocol.GO);
        assertThat(DaemonProtocol.read(in).status()).isEqualTo(70);
        assertThat(DaemonProtocol.read(in).status()).isEqualTo(-2);
        assertThatThrownBy(() -> DaemonProtocol.read(in)).isInstanceOf(EOFException.class);
    }

    @Test
    void aLargeWriteGoesInSeveralFramesAndStdinIsCopiedWhole() throws Exception {
        byte[] big = new byte[DaemonProtocol.MAX_PAYLOAD * 2 + 17];
        Arrays.fill(big, (byte) 'x');
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(buf);
        OutputStream framed = DaemonProtocol.framing(out, DaemonProtocol.OUT);
        framed.write(big);
        DaemonProtocol.writeStdin(out, new ByteArrayInputStream("a\nb\n".getBytes(StandardCharsets.UTF_8)));

        DataInputStream in = new DataInputStream(new ByteArrayInputStream(buf.toByteArray()));
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        for (int i = 0; i < 3; i++) {
            DaemonProtocol.Frame f = DaemonProtocol.read(in);
            assertThat(f.type()).isEqualTo(DaemonProtocol.OUT);
            assertThat(f.payload().length).isLessThanOrEqualTo(DaemonProtocol.MAX_PAYLOAD);
            joined.write(f.payload());
        }
        assertThat(joined.toByteArray()).isEqualTo(big);
        DaemonProtocol.Frame stdin = DaemonProtocol.read(in);
        assertThat(stdin.type()).isEqualTo(DaemonProtocol.STDIN);
        assertThat(stdin.text()).isEqualTo("a\nb\n");
    }

    @Test
    void aBadLengthOrATornFrameIsRefused() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(buf);
        out.writeByte(DaemonProtocol.OUT);
        out.writeInt(DaemonProtocol.MAX_PAYLOAD + 1);
        assertThatThrownBy(() -> DaemonProtocol.read(new DataInputStream(new ByteArrayInputStream(buf.toByteArray()))))
                .isInstanceOf(IOException.class).hasMessageContaining("bad frame length");

        ByteArrayOutputStream torn = new ByteArrayOutputStream();
        DataOutputStream t = new DataOutputStream(torn);
        t.writeByte(DaemonProtocol.OUT);
        t.writeInt(10);
        t.write(new byte[3]);
        assertThatThrownBy(() -> DaemonProtocol.read(new DataInputStream(new ByteArrayInputStream(torn.toByteArray()))))
                .isInstanceOf(EOFException.class);
        assertThatThrownBy(() -> DaemonProtocol.write(out, DaemonProtocol.OUT, new byte[DaemonProtocol.MAX_PAYLOAD + 1],
                0, DaemonProtocol.MAX_PAYLOAD + 1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theSocketPathIsShortWhateverTheStateDirAndThePointerRoundTrips() throws Exception {
        Path deep = tmp.resolve("a".repeat(120)).resolve("b".repeat(120));
        Path socket = DaemonFiles.socketPath(deep);
        assertThat(socket.toString().getBytes(StandardCharsets.UTF_8).length).isLessThan(108);
        assertThat(socket).isEqualTo(DaemonFiles.socketPath(deep.resolve("x").resolve("..")));
        assertThat(socket).isNotEqualTo(DaemonFiles.socketPath(tmp));

        assertThat(DaemonFiles.read(tmp)).isEmpty();
        DaemonFiles.write(tmp, new DaemonFiles.Pointer(4711, socket, 3));
        assertThat(DaemonFiles.read(tmp)).contains(new DaemonFiles.Pointer(4711, socket, 3));
        assertThat(DaemonClient.connect(tmp)).as("nothing listens: a stale pointer").isEmpty();
    }
}
