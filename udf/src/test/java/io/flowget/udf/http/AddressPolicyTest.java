package io.flowget.udf.http;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The SSRF guard's rules: built-in denies, configured lists, longest-prefix precedence, address forms. */
class AddressPolicyTest {
    /** The LOCAL posture (run, demo) without lists; the SERVICE posture has its own table test. */
    private static final AddressPolicy DEFAULTS = AddressPolicy.of(List.of(), List.of());

    @Test
    void deniesLinkLocalAndCloudMetadataByDefault() throws Exception {
        assertThat(DEFAULTS.refusal(ip("169.254.169.254"))).isEqualTo("link-local / cloud metadata");
        assertThat(DEFAULTS.refusal(ip("169.254.0.1"))).isEqualTo("link-local / cloud metadata");
        assertThat(DEFAULTS.refusal(ip("fd00:ec2::254"))).isEqualTo("cloud metadata");
        assertThat(DEFAULTS.refusal(ip("100.100.100.200"))).isEqualTo("cloud metadata");
        assertThat(DEFAULTS.refusal(ip("fe80::1"))).isEqualTo("link-local");
        assertThat(DEFAULTS.refusal(ip("0.0.0.0"))).isEqualTo("unspecified address");
    }

    @Test
    void allowsLoopbackPrivateAndPublicByDefault() throws Exception {
        for (String a : List.of("127.0.0.1", "127.0.0.2", "::1", "10.1.2.3", "192.168.1.1", "93.184.216.34",
                "fd00:ec2::253", "100.100.100.201", "169.255.0.1", "2001:db8::1")) {
            assertThat(DEFAULTS.allows(ip(a))).as(a).isTrue();
        }
    }

    @Test
    void judgesIpv4MappedAndCompatibleIpv6AsTheIpv4TheyCarry() throws Exception {
        // Built from bytes: the JDK would turn the text form ::ffff:a.b.c.d into an Inet4Address itself.
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        byte[] compatible = new byte[16];
        byte[] v4 = {(byte) 169, (byte) 254, (byte) 169, (byte) 254};
        System.arraycopy(v4, 0, mapped, 12, 4);
        System.arraycopy(v4, 0, compatible, 12, 4);
        assertThat(DEFAULTS.refusal(java.net.Inet6Address.getByAddress(null, mapped, -1)))
                .isEqualTo("link-local / cloud metadata");
        assertThat(DEFAULTS.refusal(java.net.Inet6Address.getByAddress(null, compatible, -1)))
                .isEqualTo("link-local / cloud metadata");
        assertThat(DEFAULTS.refusal(ip("::")))
                .as(":: is not an IPv4-compatible address but the IPv6 unspecified one (connects to loopback)")
                .isEqualTo("unspecified address");
        assertThat(DEFAULTS.allows(ip("::1"))).as("::1 is IPv6 loopback, allowed under LOCAL").isTrue();
    }

    @Test
    void configuredDenyListAddsToTheBuiltIns() throws Exception {
        AddressPolicy p = AddressPolicy.of(List.of(), AddressPolicy.splitList("127.0.0.2/32, 10.0.0.0/8;::1"));
        assertThat(p.refusal(ip("127.0.0.2"))).isEqualTo("denied by flowget.net.deny-cidrs");
        assertThat(p.refusal(ip("10.200.0.1"))).isEqualTo("denied by flowget.net.deny-cidrs");
        assertThat(p.refusal(ip("::1"))).isEqualTo("denied by flowget.net.deny-cidrs");
        assertThat(p.allows(ip("127.0.0.1"))).isTrue();
        assertThat(p.refusal(ip("169.254.169.254"))).isEqualTo("link-local / cloud metadata");
    }

    @Test
    void mostSpecificRuleWinsAndAllowWinsATie() throws Exception {
        AddressPolicy ecsTaskMetadata = AddressPolicy.of(List.of("169.254.170.2/32"), List.of());
        assertThat(ecsTaskMetadata.allows(ip("169.254.170.2"))).isTrue();
        assertThat(ecsTaskMetadata.allows(ip("169.254.169.254"))).isFalse();

        AddressPolicy liftBuiltIn = AddressPolicy.of(List.of("169.254.0.0/16"), List.of());
        assertThat(liftBuiltIn.allows(ip("169.254.169.254"))).isTrue();

        AddressPolicy allowList =
                AddressPolicy.of(List.of("10.0.0.0/8"), List.of("0.0.0.0/0", "::/0", "10.9.9.9/32"));
        assertThat(allowList.allows(ip("10.1.1.1"))).isTrue();
        assertThat(allowList.allows(ip("10.9.9.9"))).isFalse();
        assertThat(allowList.allows(ip("127.0.0.1"))).isFalse();
        assertThat(allowList.allows(ip("2001:db8::1"))).isFalse();
        assertThat(allowList.refusal(ip("169.254.169.254"))).isEqualTo("link-local / cloud metadata");
    }

    @Test
    void rejectsMalformedEntriesNamingThem() {
        assertThatThrownBy(() -> AddressPolicy.of(List.of(), List.of("example.com/8")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'example.com/8'");
        assertThatThrownBy(() -> AddressPolicy.of(List.of(), List.of("10.0.0.0/33")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("out of range");
        assertThatThrownBy(() -> AddressPolicy.of(List.of("10.0.0.0/x"), List.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("bad prefix");
        assertThatThrownBy(() -> AddressPolicy.of(List.of(), List.of("256.1.1.1")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    private static InetAddress ip(String literal) throws Exception {
        return InetAddress.getByName(literal); // literals only: no lookup
    }

    @Test
    void tellsIpLiteralsFromNamesInOnePass() {
        for (String literal : List.of("127.0.0.1", "0.0.0.0", "255.255.255.255", "010.1.1.1", "[::1]", "::1",
                "fe80::1", "::ffff:127.0.0.1", "2001:DB8::A")) {
            assertThat(AddressPolicy.isIpLiteral(literal)).as(literal).isTrue();
        }
        for (String name : List.of("", "example.org", "127.0.0", "127.0.0.1.", ".127.0.0.1", "127..0.1",
                "256.0.0.1", "1.2.3.4.5", "1234.0.0.1", "127.0.0.1x", "+1.2.3.4", "[]", "12:g::1", "localhost",
                "0x7f.0.0.1")) {
            assertThat(AddressPolicy.isIpLiteral(name)).as(name).isFalse();
        }
    }
}
