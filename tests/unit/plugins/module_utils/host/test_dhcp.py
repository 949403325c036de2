# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pod's dnsmasq configuration carries KubeVirt's DHCP options (reference §3)."""

from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp

ROUTES = [{'dst': '0.0.0.0/0', 'gateway': '10.88.0.1'}, {'dst': '10.88.0.0/16', 'gateway': None},
          {'dst': '169.254.1.1/32', 'gateway': None}]


LEASES, LOG = '/sandbox/state/default_vm/dnsmasq.leases', '/sandbox/state/default_vm/dnsmasq.log'


def entry(**overrides):
    values = dict(tag='eth0', bridge='k6t-eth0', cidr='10.88.0.5/16', mac='02:00:00:aa:bb:cc',
                  gateway='10.88.0.1', routes=ROUTES, mtu=1400, hostname='testvm',
                  dns=['10.96.0.10'], search=['default.svc.cluster.local', 'svc.cluster.local'])
    values.update(overrides)
    return dhcp.bridge_entry(**values)


def test_bridge_entry_drops_the_local_subnet_and_puts_the_default_route_last():
    assert entry()['routes'] == [['169.254.1.1/32', '0.0.0.0'], ['0.0.0.0/0', '10.88.0.1']]
    assert entry()['netmask'] == '255.255.0.0' and entry()['network'] == '10.88.0.0'


def test_render_has_every_kubevirt_option_forced():
    text = dhcp.render([entry()], LEASES, LOG)
    lines = text.splitlines()
    for line in [
            'interface=k6t-eth0', 'shared-network=k6t-eth0,10.88.0.5',
            'dhcp-range=set:eth0,10.88.0.0,static,255.255.0.0,999d',
            'dhcp-host=02:00:00:aa:bb:cc,set:eth0,10.88.0.5,999d',
            'dhcp-option-force=tag:eth0,option:router,10.88.0.1',
            'dhcp-option-force=tag:eth0,option:dns-server,10.96.0.10',
            'dhcp-option-force=tag:eth0,option:mtu,1400',
            'dhcp-option-force=tag:eth0,12,testvm',
            'dhcp-option-force=tag:eth0,option:domain-name,default.svc.cluster.local',
            'dhcp-option-force=tag:eth0,option:domain-search,default.svc.cluster.local,svc.cluster.local',
            'dhcp-option-force=tag:eth0,option:classless-static-route,169.254.1.1/32,0.0.0.0,0.0.0.0/0,10.88.0.1']:
        assert line in lines, line
    assert 'port=0' in lines  # no DNS service
    assert 'dhcp-leasefile=' + LEASES in lines and 'log-facility=' + LOG in lines
    assert not any(line.startswith('user=') for line in lines)  # dnsmasq drops root


def test_bridge_binding_answers_its_guest_only():
    # Other guests on the same network reach the pod's bridge with their broadcasts.
    assert 'dhcp-ignore=tag:!known,tag:k6t-eth0' in dhcp.render([entry()], LEASES, LOG).splitlines()


def test_no_gateway_gives_an_empty_router_option():
    assert 'dhcp-option-force=tag:eth0,option:router' in dhcp.render([entry(gateway=None)], LEASES, LOG).splitlines()


def test_resolv_conf(tmp_path):
    conf = tmp_path / 'resolv.conf'
    conf.write_text('nameserver 10.0.0.2\nnameserver fd00::2\nsearch Example.COM lab.example.com\n')
    assert dhcp.resolv_conf(str(conf)) == (['10.0.0.2'], ['example.com', 'lab.example.com'])
    conf.write_text('nameserver fd00::2\n')
    assert dhcp.resolv_conf(str(conf)) == ([], ['cluster.local'])
    assert dhcp.resolv_conf(str(tmp_path / 'missing')) == (['8.8.8.8'], ['cluster.local'])
