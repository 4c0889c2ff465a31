"""The rules of the seed texts' later chapters, one module per subject, each registered in
the engine with :func:`market.compliance.domain.rule` when the domain module loads."""
