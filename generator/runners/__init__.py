"""Runners: what kgen runs on this machine after rendering, apart from the rendering itself.

* :mod:`~generator.runners.qemu` boots a rendered node in a local VM (``kgen vm``), with the NoCloud
  seed of :mod:`~generator.runners.seed` and the serial-console report of
  :mod:`~generator.runners.vm_report`, whose guest side is :mod:`~generator.runners.guest_report`
  (a script shipped as text and run by the guest's own Python);
* :mod:`~generator.runners.bake` runs Packer on the rendered project (``kgen bake``);
* :mod:`~generator.runners.kvmprobe` decides between KVM and TCG for both.

Runners may import the rendering stages; no stage imports a runner.
"""
