package io.flowget.udf.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away test PKI, made with the JDK's {@code keytool} at test time: a CA (its certificate as a PEM file,
 * for {@code --ca-cert}) and a server key store (PKCS12) whose certificate the CA signed for
 * {@code 127.0.0.1}..{@code 127.0.0.9} and {@code localhost}. Made once per JVM under {@code java.io.tmpdir}
 * (surefire points it into {@code target/}); EC keys keep it fast.
 */
public final class TestCertificates {
    private static TestCertificates shared;

    private final Path dir;
    private final String password = "flowget-test";

    private TestCertificates(Path dir) {
        this.dir = dir;
    }

    /** The JVM's test PKI, created on first use. */
    public static synchronized TestCertificates get() throws IOException, InterruptedException {
        if (shared == null) {
            TestCertificates c = new TestCertificates(Files.createTempDirectory("flowget-test-pki"));
            c.create();
            shared = c;
        }
        return shared;
    }

    /** The test PKI another JVM made with {@link #get} in {@code dir} (the directory of its {@link #caPem}). */
    public static TestCertificates in(Path dir) {
        return new TestCertificates(dir);
    }

    /** The CA certificate (PEM), to trust on the client side. */
    public Path caPem() {
        return dir.resolve("ca.pem");
    }

    /** PKCS12 key store with the server key and its chain. */
    public Path serverKeyStore() {
        return dir.resolve("server.p12");
    }

    public String password() {
        return password;
    }

    private void create() throws IOException, InterruptedException {
        String ca = dir.resolve("ca.p12").toString();
        String server = serverKeyStore().toString();
        String csr = dir.resolve("server.csr").toString();
        String crt = dir.resolve("server.crt").toString();
        StringBuilder san = new StringBuilder("san=dns:localhost");
        for (int i = 1; i <= 9; i++) {
            san.append(",ip:127.0.0.").append(i);
        }
        keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-dname",
                "CN=flowget test CA", "-ext", "bc:c", "-validity", "3", "-keystore", ca);
        keytool("-exportcert", "-alias", "ca", "-rfc", "-file", caPem().toString(), "-keystore", ca);
        keytool("-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1", "-dname",
                "CN=localhost", "-validity", "3", "-keystore", server);
        keytool("-certreq", "-alias", "server", "-file", csr, "-keystore", server);
        keytool("-gencert", "-alias", "ca", "-infile", csr, "-outfile", crt, "-rfc", "-validity", "3", "-ext",
                san.toString(), "-ext", "eku=serverAuth", "-keystore", ca);
        // The CA first, as a trusted entry: keytool then installs the signed reply with the chain [server, CA].
        keytool("-importcert", "-alias", "ca", "-file", caPem().toString(), "-noprompt", "-keystore", server);
        keytool("-importcert", "-alias", "server", "-file", crt, "-keystore", server);
    }

    private void keytool(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("-storetype", "PKCS12", "-storepass", password, "-keypass", password));
        Path log = dir.resolve("keytool.log");
        Process p =
                new ProcessBuilder(cmd)
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                        .start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("keytool timed out: " + cmd);
        }
        if (p.exitValue() != 0) {
            throw new IOException("keytool failed (" + p.exitValue() + "): " + cmd + "\n" + Files.readString(log));
        }
    }
}
