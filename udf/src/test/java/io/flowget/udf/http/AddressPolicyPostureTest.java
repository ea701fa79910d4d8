package io.flowget.udf.http;

import io.flowget.udf.config.FlowgetOptions.NetPosture;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The SSRF guard's two postures, table-driven: every special-purpose range, each IPv4 one also in every IPv6 form
 * that carries an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 well-known and local-use, 6to4), against
 * {@code SERVICE} (the service's default) and {@code LOCAL} ({@code run}/{@code demo}).
 */
class AddressPolicyPostureTest {
    private static final AddressPolicy SERVICE = AddressPolicy.of(NetPosture.SERVICE, List.of(), List.of());
    private static final AddressPolicy LOCAL = AddressPolicy.of(NetPosture.LOCAL, List.of(), List.of());

    /** IPv4 ranges: a member address, its reason under SERVICE, and whether LOCAL refuses it too. */
    static Stream<Arguments> ipv4Ranges() {
        return Stream.of(
                Arguments.of("127.0.0.1", "loopback", false),
                Arguments.of("127.255.255.254", "loopback", false),
                Arguments.of("10.0.0.1", "private", false),
                Arguments.of("172.16.0.1", "private", false),
                Arguments.of("172.31.255.254", "private", false),
                Arguments.of("192.168.1.1", "private", false),
                Arguments.of("100.64.0.1", "shared address space (CGNAT)", false),
                Arguments.of("100.127.255.254", "shared address space (CGNAT)", false),
                Arguments.of("0.0.0.0", "unspecified address", true),
                Arguments.of("0.1.2.3", "unspecified address", true),
                Arguments.of("169.254.0.1", "link-local / cloud metadata", true),
                Arguments.of("169.254.169.254", "link-local / cloud metadata", true), // AWS, GCP, Azure, OCI...
                Arguments.of("169.254.170.2", "link-local / cloud metadata", true), // AWS ECS task metadata
                Arguments.of("169.254.170.23", "link-local / cloud metadata", true), // EKS pod identity
                Arguments.of("169.254.0.23", "link-local / cloud metadata", true), // Tencent
                Arguments.of("100.100.100.200", "cloud metadata", true), // Alibaba
                Arguments.of("168.63.129.16", "cloud metadata", true), // Azure WireServer
                Arguments.of("192.0.0.192", "cloud metadata", true), // Oracle
                Arguments.of("224.0.0.1", "multicast", false),
                Arguments.of("239.255.255.250", "multicast", false),
                Arguments.of("240.0.0.1", "reserved", false),
                Arguments.of("255.255.255.255", "reserved", false),
                Arguments.of("192.0.0.8", "IETF protocol assignments", false),
                Arguments.of("192.0.2.1", "documentation", false),
                Arguments.of("198.51.100.1", "documentation", false),
                Arguments.of("203.0.113.1", "documentation", false),
                Arguments.of("198.18.0.1", "benchmarking", false),
                Arguments.of("198.19.255.254", "benchmarking", false),
                Arguments.of("192.88.99.1", "6to4 relay anycast", false));
    }

    /** Every way an IPv6 address can carry the IPv4 address {@code v4}, with the form's name (null: judged as IPv4). */
    static List<String[]> forms(String v4) throws Exception {
        byte[] b = InetAddress.getByName(v4).getAddress();
        String hi = String.format("%02x%02x", b[0] & 0xff, b[1] & 0xff);
        String lo = String.format("%02x%02x", b[2] & 0xff, b[3] & 0xff);
        List<String[]> out = new ArrayList<>();
        out.add(new String[] {v4, null});
        out.add(new String[] {"::ffff:" + v4, null});
        if (!v4.equals("0.0.0.0")) { // "::" is the IPv6 unspecified address, judged as such
            out.add(new String[] {"::" + v4, null});
        }
        out.add(new String[] {"64:ff9b::" + v4, "NAT64 64:ff9b::/96"});
        out.add(new String[] {"64:ff9b::" + hi + ":" + lo, "NAT64 64:ff9b::/96"});
        // Local-use NAT64 (RFC 8215) with a /48 prefix: u-octet (byte 8) zero between the halves of the IPv4.
        out.add(new String[] {
            String.format("64:ff9b:1:%s:%02x:%02x%02x::", hi, b[2] & 0xff, b[3] & 0xff, 0), "NAT64 64:ff9b:1::/48"
        });
        out.add(new String[] {"64:ff9b:1::" + v4, "NAT64 64:ff9b:1::/48"});
        out.add(new String[] {"2002:" + hi + ":" + lo + "::1", "6to4 2002::/16"});
        return out;
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("ipv4Ranges")
    void serviceRefusesEachIpv4RangeInEveryForm(String v4, String reason, boolean alsoLocal) throws Exception {
        for (String[] form : forms(v4)) {
            String refusal = SERVICE.refusal(InetAddress.getByName(form[0]));
            assertThat(refusal).as(form[0]).isNotNull();
            if (form[1] == null) {
                assertThat(refusal).as(form[0]).isEqualTo(reason);
            } else if (!form[1].contains("64:ff9b:1::")) { // the local-use prefix is refused as a whole
                assertThat(refusal).as(form[0]).isEqualTo(reason + ", embedded in " + form[1]);
            }
        }
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("ipv4Ranges")
    void localRefusesOnlyUnspecifiedLinkLocalAndMetadataInEveryForm(String v4, String reason, boolean alsoLocal)
            throws Exception {
        for (String[] form : forms(v4)) {
            String refusal = LOCAL.refusal(InetAddress.getByName(form[0]));
            if (alsoLocal) {
                assertThat(refusal)
                        .as(form[0])
                        .isEqualTo(form[1] == null ? reason : reason + ", embedded in " + form[1]);
            } else {
                assertThat(refusal).as(form[0]).isNull();
            }
        }
    }

    static Stream<Arguments> ipv6Ranges() {
        return Stream.of(
                Arguments.of("::1", "loopback", false),
                Arguments.of("::", "unspecified address", true),
                Arguments.of("fc00::1", "unique local", false),
                Arguments.of("fd12:3456::1", "unique local", false),
                Arguments.of("fd00:ec2::254", "cloud metadata", true), // AWS IMDS over IPv6
                Arguments.of("fd00:ec2::23", "cloud metadata", true), // EKS pod identity over IPv6
                Arguments.of("fe80::1", "link-local", true),
                Arguments.of("febf:ffff::1", "link-local", true),
                Arguments.of("fec0::1", "site-local", false),
                Arguments.of("ff02::1", "multicast", false),
                Arguments.of("2001:db8::1", "documentation", false),
                Arguments.of("3fff::1", "documentation", false),
                Arguments.of("100::1", "discard-only", false),
                Arguments.of("2001:2::1", "IETF protocol assignments", false),
                Arguments.of("64:ff9b:1:abcd::1", "local-use NAT64", false));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("ipv6Ranges")
    void ipv6RangesPerPosture(String v6, String reason, boolean alsoLocal) throws Exception {
        InetAddress a = InetAddress.getByName(v6);
        assertThat(SERVICE.refusal(a)).isEqualTo(reason);
        assertThat(LOCAL.refusal(a)).isEqualTo(alsoLocal ? reason : null);
    }

    @Test
    void publicAddressesPassInEveryFormAndPosture() throws Exception {
        for (String v4 : List.of("93.184.216.34", "8.8.8.8", "1.1.1.1")) {
            for (String[] form : forms(v4)) {
                InetAddress a = InetAddress.getByName(form[0]);
                assertThat(LOCAL.allows(a)).as(form[0]).isTrue();
                if (form[1] == null || !form[1].contains("64:ff9b:1::")) {
                    assertThat(SERVICE.allows(a)).as(form[0]).isTrue();
                }
            }
        }
        assertThat(SERVICE.allows(InetAddress.getByName("2606:4700:4700::1111"))).isTrue();
        assertThat(SERVICE.allows(InetAddress.getByName("2a00:1450:4001::200e"))).isTrue();
    }

    @Test
    void teredoIsJudgedByTheServerAndTheClientItLeadsTo() throws Exception {
        // Teredo 2001:0:<server v4>:<flags>:<port>:<client v4 inverted>; the client here is 127.0.0.1.
        InetAddress toLoopback = InetAddress.getByName("2001:0:5db8:d822:0:ffff:80ff:fffe");
        assertThat(LOCAL.refusal(toLoopback)).isNull();
        InetAddress toMetadata = InetAddress.getByName("2001:0:5db8:d822:0:ffff:5601:5601");
        assertThat(LOCAL.refusal(toMetadata)).isEqualTo("link-local / cloud metadata, embedded in Teredo 2001::/32");
        assertThat(SERVICE.refusal(toLoopback)).isEqualTo("IETF protocol assignments");
    }

    @Test
    void configurationPicksThePostureAndListsStillApply() throws Exception {
        Configuration c = new Configuration();
        assertThat(AddressPolicy.from(c).allows(InetAddress.getByName("127.0.0.1")))
                .as("the option's default is the service posture")
                .isFalse();
        c.setString("flowget.net.posture", "local");
        assertThat(AddressPolicy.from(c).allows(InetAddress.getByName("127.0.0.1"))).isTrue();
        c.setString("flowget.net.posture", "service");
        c.setString("flowget.net.allow-cidrs", "10.1.0.0/16");
        AddressPolicy p = AddressPolicy.from(c);
        assertThat(p.allows(InetAddress.getByName("10.1.2.3"))).as("an allow rule lifts the posture's").isTrue();
        assertThat(p.allows(InetAddress.getByName("10.2.0.1"))).isFalse();
        assertThat(p.allows(InetAddress.getByName("64:ff9b::10.2.0.1"))).isFalse();
        c.setString("flowget.net.posture", "local");
        c.setString("flowget.net.deny-cidrs", "127.0.0.0/8");
        assertThat(AddressPolicy.from(c).refusal(InetAddress.getByName("64:ff9b::127.0.0.1")))
                .as("a configured deny applies to the NAT64 form too")
                .isEqualTo("denied by flowget.net.deny-cidrs, embedded in NAT64 64:ff9b::/96");
    }

    @Test
    void allowedPortsAreRangesAndUnsetMeansAny() {
        AddressPolicy any = AddressPolicy.of(NetPosture.SERVICE, List.of(), List.of());
        assertThat(any.portRefusal(22)).isNull();
        AddressPolicy web = any.withPorts("80, 443;8000-8999");
        assertThat(web.portRefusal(80)).isNull();
        assertThat(web.portRefusal(8443)).isNull();
        assertThat(web.portRefusal(9000)).isEqualTo("blocked port: 9000 (not in flowget.net.allowed-ports)");
        assertThat(web.portRefusal(22)).isNotNull();
        assertThatThrownBy(() -> any.withPorts("http")).hasMessageContaining("'http'");
        assertThatThrownBy(() -> any.withPorts("90-80")).hasMessageContaining("'90-80'");
        assertThatThrownBy(() -> any.withPorts("70000")).hasMessageContaining("'70000'");
    }
}
