"""What Kuscia itself does with an AppImage, redone in Python to check it before it is
stored or before a workload runs it: the rendering of its config templates (``render``,
over ``gotemplate``, a port of Go's text/template), the deploy template a party's role
selects (``roles``), and the links from Kuscia's jobs, tasks and deployments to
AppImages (``workloads``).

Pure, no I/O: the core's rule (``workloads`` reaches the cluster only through its
``Lookup`` protocol).
"""
