"""Go's text/template (Go 1.26), ported to Python to answer without Go what ``template.Parse`` and
``Execute`` would: the parser file for file (``text/template/parse``: ``item``, ``scan``, ``lex`` and
``literal`` from lex.go, ``stream`` and ``parse`` from parse.go, ``node`` from node.go, with
``strconv`` and ``tables`` for what they take from Go's strconv, fmt and unicode), and execution
over kinds of values instead of values (``execution`` and ``evaluate`` from exec.go, ``funcs`` from
funcs.go): the same first parse error at the same line, and the actions that fail whenever they run.

Pure, no I/O, and nothing of Kuscia: ``webhook.core.kuscia.render`` brings that.
"""
