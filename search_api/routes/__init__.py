"""The API's routers, one module per resource; :data:`ROUTERS` are included under ``/api/v1``.

Each module holds its routes and the API models only those routes use; the services' own models
(tags, cases, collections, search responses) stay beside the services that return them.
"""

from fastapi import APIRouter

from search_api.routes import (
    admin,
    auth,
    batch,
    care,
    cases,
    collections,
    documents,
    entities,
    families,
    history,
    metadata,
    passages,
    saved_searches,
    search,
    tags,
    uploads,
)

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    search.router,
    collections.router,
    documents.router,
    uploads.router,
    tags.router,
    cases.router,
    admin.router,
    passages.router,
    batch.router,
    saved_searches.router,
    history.router,
    entities.router,
    families.router,
    care.router,
    metadata.router,
)
