package io.flowget.job.embedded;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Lists this JVM's listening TCP sockets that are not bound to a loopback address, from Linux's /proc (the network
 * tables cover the whole namespace, so they are filtered by the socket inodes among this process's fds). Returns an
 * empty list where /proc is unavailable.
 */
final class LoopbackCheck {
    private static final String LISTEN = "0A";

    private LoopbackCheck() {}

    static List<String> nonLoopbackListeners() throws IOException {
        Path fds = Path.of("/proc/self/fd");
        if (!Files.isDirectory(fds)) {
            return List.of();
        }
        Set<String> inodes = new HashSet<>();
        try (Stream<Path> links = Files.list(fds)) {
            for (Path link : (Iterable<Path>) links::iterator) {
                try {
                    String target = Files.readSymbolicLink(link).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException e) {
                    // fd closed while listing
                }
            }
        }
        List<String> offenders = new ArrayList<>();
        for (String table : List.of("/proc/self/net/tcp", "/proc/self/net/tcp6")) {
            Path file = Path.of(table);
            if (!Files.isReadable(file)) {
                continue;
            }
            // Read once: the table changes between reads while other sockets open and close.
            List<String> lines = Files.readAllLines(file);
            for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                String[] f = line.trim().split("\\s+");
                // f[1] local address (hex ip:port), f[3] state, f[9] inode
                if (f.length > 9 && LISTEN.equals(f[3]) && inodes.contains(f[9]) && !isLoopback(f[1])) {
                    offenders.add(table + " " + f[1]);
                }
            }
        }
        return offenders;
    }

    /** IPv4 127.x.x.x is stored little-endian ("...7F"); IPv6 ::1 and v4-mapped ::ffff:127.x.x.x also count. */
    private static boolean isLoopback(String hexAddress) {
        String ip = hexAddress.substring(0, hexAddress.indexOf(':'));
        if (ip.length() == 8) {
            return ip.endsWith("7F");
        }
        return ip.equals("00000000000000000000000001000000")
                || (ip.startsWith("0000000000000000FFFF0000") && ip.endsWith("7F"));
    }
}
