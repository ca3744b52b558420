"""Go's text/template parser (``text/template/parse``), ported to Python file for file: ``lex``,
``parse``, ``node``, and the parts of ``strconv`` and ``fmt`` they call.

It answers what Go's ``template.Parse`` would: the same tree, the same first error, at the
same line. Pure, no I/O, and nothing of Kuscia: ``webhook.core.kuscia.render`` brings that.
"""
