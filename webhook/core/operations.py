"""The one table of Kuscia's AppImage operations: what each is called where.

Pure, no I/O. Every front end and document is derived from ``ALL``: the REST paths
(``rest.endpoints.ENDPOINTS``), the gRPC methods (``proto.codec.METHODS``), the methods
that run them (``api.AppImages.operations``), the request definitions of the REST schema
(``schemagen``) and the shapes ``api`` reads them with, the store failure codes
(``api.FAILED``), and the OpenAPI paths with their
summaries, answers, codes and examples (``openapi``). The shapes of the requests' own
fields stay with their readers: ``schemagen`` writes their schema, ``api`` their shape;
this table says which fields each request has. tests/core/test_operations.py checks that the
table, the proto service, the REST schema and the OpenAPI document agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from webhook.core import errors

Code = errors.Code

ALWAYS: Final[tuple[Code, ...]] = (Code.SUCCESS, Code.REQUEST_INVALID, Code.UNEXPECTED)
"""The codes any operation may answer with (HTTP 200; a wrong token is HTTP 401)."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of Kuscia's ``AppImageService``."""

    name: str
    """Its REST path under ``/api/v1/appimage/``, OpenAPI operationId and metrics label,
    and the name of the ``api.AppImages`` method that runs it."""
    method: str
    """Its gRPC method."""
    request: str
    """Its request: the REST schema's definition and the protobuf message, alike named."""
    answer: str
    """Its answer's schema in the OpenAPI document."""
    summary: str
    """One line in the OpenAPI document."""
    description: str
    """The request definition's description in the REST schema."""
    fields: tuple[str, ...]
    """The request's own fields besides ``header``, in order."""
    required: tuple[str, ...]
    """The fields a request must hold."""
    with_spec: bool
    """Whether the request carries the AppImage's fields (image, templates…) too."""
    failure: Code
    """Its code when the store fails it (``api.kuscia_failure``)."""
    codes: tuple[Code, ...] = ()
    """The store's codes it answers with as they are (does not exist, exists already)."""
    aliases: tuple[str, ...] = ()
    """Other REST paths Kuscia answers it at."""
    example: str = ""
    """The API document's request body for it: ``webhook/rest/examples/doc_<example>.json``."""

    @property
    def paths(self) -> tuple[str, ...]:
        """Its REST paths under ``/api/v1/appimage/``."""
        return (self.name, *self.aliases)

    @property
    def answers(self) -> tuple[Code, ...]:
        """Every code it answers with."""
        return (*ALWAYS, *self.codes, self.failure)


CREATE: Final[Operation] = Operation(
    name="create", method="CreateAppImage", request="CreateAppImageRequest", answer="Answer",
    summary="Create an AppImage", description="Create an AppImage.",
    fields=("name",), required=("name", "image", "deploy_templates"), with_spec=True,
    failure=Code.CREATE_FAILED, codes=(Code.ALREADY_EXISTS,), example="create")
UPDATE: Final[Operation] = Operation(
    name="update", method="UpdateAppImage", request="UpdateAppImageRequest", answer="Answer",
    summary="Update an AppImage (incremental)",
    description="Update an AppImage: image replaces the stored one; config_templates and "
                "deploy_templates only when present and non-empty.",
    fields=("name",), required=("name", "image"), with_spec=True,
    failure=Code.UPDATE_FAILED, codes=(Code.NOT_EXISTS,), example="update")
DELETE: Final[Operation] = Operation(
    name="delete", method="DeleteAppImage", request="DeleteAppImageRequest", answer="Answer",
    summary="Delete an AppImage", description="Delete an AppImage.",
    fields=("name",), required=("name",), with_spec=False,
    failure=Code.DELETE_FAILED, example="delete")
QUERY: Final[Operation] = Operation(
    name="query", method="QueryAppImage", request="QueryAppImageRequest", answer="QueryAnswer",
    summary="Query an AppImage", description="Query an AppImage.",
    fields=("name",), required=("name",), with_spec=False,
    failure=Code.QUERY_FAILED, codes=(Code.NOT_EXISTS,), example="query")
BATCH_QUERY: Final[Operation] = Operation(
    name="batch_query", method="BatchQueryAppImage", request="BatchQueryAppImageRequest",
    answer="BatchQueryAnswer", summary="Query several AppImages, in order",
    description="Query several AppImages, in order.",
    fields=("names",), required=("names",), with_spec=False,
    failure=Code.BATCH_QUERY_FAILED, codes=(Code.NOT_EXISTS,), aliases=("batchQuery",),
    example="batchQuery")
LIST: Final[Operation] = Operation(
    name="list", method="ListAppImage", request="ListAppImageRequest", answer="ListAnswer",
    summary="List AppImages by name, a page at a time",
    description="List AppImages by name, a page at a time.",
    fields=("page_size", "page_token"), required=(), with_spec=False,
    failure=Code.LIST_FAILED)

ALL: Final[tuple[Operation, ...]] = (CREATE, UPDATE, DELETE, QUERY, BATCH_QUERY, LIST)
"""In the order the OpenAPI document lists them."""
