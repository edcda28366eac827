"""nova-compute's start, as far as the DevStack plugin can see it.

Usage: ncpu_standin.py NOVA_CPU_CONF RESULT_JSON

Parses the file nova-compute gets with nova's own options and loads the
compute driver with nova's own ``load_compute_driver``, logging the way the
service logs to its journal (stdout, with DevStack's coloured format), then
writes what it loaded to RESULT_JSON. Then the part of the driver's
``init_host`` that needs no libvirtd, nova's own CPU configuration check
(``LibvirtDriver._check_cpu_compatibility``): an exception ends the service
as it ends nova-compute, its traceback written with DevStack's
``logging_exception_prefix``; otherwise the resource tracker's line of
``pre_start_hook``, which nova logs only after ``init_host`` returned.
Exits 1, as nova-compute does, when the driver does not load or start.
"""

import json
import logging
import sys
import traceback

# DevStack's setup_systemd_logging: logging_default_format_string and
# logging_exception_prefix (no instance, hence the empty colour pair).
FORMAT = ('\x1b[00;32m%(levelname)s %(name)s [\x1b[00;36m-\x1b[00;32m] '
          '\x1b[01;35m\x1b[00;32m%(message)s\x1b[00m')
EXCEPTION_PREFIX = 'ERROR nova \x1b[01;35m\x1b[00m'


def main():
    conf_file, result = sys.argv[1:]
    import nova.conf
    from nova.virt import driver
    from nova.virt import virtapi

    from oslo_log import log

    conf = nova.conf.CONF
    # As nova.config.parse_args: oslo.log's options ([DEFAULT] debug).
    log.register_options(conf)
    conf(['--config-file', conf_file], project='nova',
         default_config_files=[])
    logging.basicConfig(level=logging.DEBUG if conf.debug else logging.INFO,
                        stream=sys.stdout, format=FORMAT, force=True)
    compute = driver.load_compute_driver(virtapi.VirtAPI())
    module = sys.modules['nova.virt.' + conf.compute_driver.rpartition('.')[0]]
    with open(result, 'w') as f:
        json.dump({
            'class': '%s.%s' % (type(compute).__module__,
                                type(compute).__qualname__),
            'is_compute_driver': isinstance(compute, driver.ComputeDriver),
            'module_file': module.__file__,
            'vif_driver': '%s.%s' % (type(compute.vif_driver).__module__,
                                     type(compute.vif_driver).__qualname__),
            'virt_type': conf.libvirt.virt_type,
            'lxc_contrail': {name: str(conf.lxc_contrail[name])
                             for name in conf.lxc_contrail},
        }, f, sort_keys=True)
    try:
        compute._check_cpu_compatibility()
    except Exception:
        # oslo.log's excepthook: every line of the traceback, prefixed.
        for chunk in traceback.format_exception(*sys.exc_info()):
            for line in chunk.rstrip().splitlines():
                sys.stdout.write(EXCEPTION_PREFIX + line + '\n')
        sys.exit(1)
    logging.getLogger('nova.compute.resource_tracker').debug(
        'Final resource view: name=%s phys_ram=0MB used_ram=0MB '
        'phys_disk=0GB used_disk=0GB total_vcpus=0 used_vcpus=0 '
        'pci_stats=[]', conf.host)


if __name__ == '__main__':
    main()
