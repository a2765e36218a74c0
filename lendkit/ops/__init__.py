"""Operations: lendkit's use cases as public functions on a ``UnitOfWork``.

Layers, each importing only the ones below it (import-linter checks this in tox's lint env):
cli / bench -> platform -> facades (``lendkit.services``: validate arguments, run one operation
through the runner) -> operations (``lendkit.ops``) -> unit of work (``lendkit.uow``) -> store ->
core. An operation may call other operations directly; it never goes through the ``Platform`` or
a facade.
"""
