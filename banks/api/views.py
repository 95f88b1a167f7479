"""Bank routes of the contract: list, create/update, delete, profile and configuration."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from banks import selectors, services, templates
from banks.api.serializers import (
    CREATE_BANK_CONFIG_FIELDS,
    BankConfigResponseSerializer,
    BankConfigUpdateSerializer,
    BankListQuerySerializer,
    BankListResponseSerializer,
    BankLlmHealthResponseSerializer,
    BankProfileResponseSerializer,
    BankTemplateImportResponseSerializer,
    CreateBankRequestSchemaSerializer,
    CreateBankRequestSerializer,
    DeleteResponseSerializer,
    TemplateImportQuerySerializer,
    UpdateDispositionRequestSerializer,
)
from hindsight_site import llm
from hindsight_site.api.parsing import parse_body, parse_query
from hindsight_site.errors import NotFound, NotImplementedByServer


class BankListView(APIView):
    @extend_schema(
        operation_id="list_banks", parameters=[BankListQuerySerializer], responses=BankListResponseSerializer
    )
    def get(self, request):
        query = parse_query(request, BankListQuerySerializer)
        # An API key limited to some banks lists only those (``request.bank_scope``, set by the key permission).
        items, total = selectors.list_banks(
            q=query.get("q"),
            limit=query["limit"],
            offset=query["offset"],
            banks=getattr(request, "bank_scope", None),
        )
        return Response({"banks": items, "total": total, "limit": query["limit"], "offset": query["offset"]})


class BankDetailView(APIView):
    def _create_or_update(self, request, bank_id: str) -> Response:
        data = parse_body(request, CreateBankRequestSerializer)
        disposition = dict(data.get("disposition") or {})
        for trait in ("skepticism", "literalism", "empathy"):
            value = data.get(f"disposition_{trait}")
            if value is not None:
                disposition[trait] = value
        # ``mission``, ``background`` and ``reflect_mission`` all name the reflect mission (the first two are the
        # contract's deprecated spellings); the most specific one given wins.
        mission = next(
            (
                request.data[key]
                for key in ("reflect_mission", "mission", "background")
                if request.data.get(key) is not None
            ),
            None,
        )
        config_updates = {
            key: request.data[key]
            for key in CREATE_BANK_CONFIG_FIELDS
            if key != "reflect_mission" and request.data.get(key) is not None
        }
        bank = services.create_or_update_bank(
            bank_id=bank_id,
            name=data.get("name"),
            mission=mission,
            disposition=disposition or None,
            config_updates=config_updates,
        )
        return Response(selectors.profile_payload(bank))

    @extend_schema(
        operation_id="create_or_update_bank",
        request=CreateBankRequestSchemaSerializer,
        responses=BankProfileResponseSerializer,
    )
    def put(self, request, bank_id: str):
        return self._create_or_update(request, bank_id)

    @extend_schema(
        operation_id="update_bank", request=CreateBankRequestSchemaSerializer, responses=BankProfileResponseSerializer
    )
    def patch(self, request, bank_id: str):
        return self._create_or_update(request, bank_id)

    @extend_schema(operation_id="delete_bank", responses={200: DeleteResponseSerializer})
    def delete(self, request, bank_id: str):
        bank = selectors.get_bank(bank_id=bank_id)
        deleted = services.delete_bank(bank=bank)
        return Response(
            {"success": True, "message": f"Bank '{bank_id}' and all its data deleted", "deleted_count": deleted}
        )


class BankProfileView(APIView):
    @extend_schema(operation_id="get_bank_profile", responses=BankProfileResponseSerializer)
    def get(self, request, bank_id: str):
        return Response(selectors.profile_payload(selectors.get_bank(bank_id=bank_id)))

    @extend_schema(
        operation_id="update_bank_disposition",
        request=UpdateDispositionRequestSerializer,
        responses=BankProfileResponseSerializer,
    )
    def put(self, request, bank_id: str):
        data = parse_body(request, UpdateDispositionRequestSerializer)
        bank = services.create_or_update_bank(bank_id=bank_id, disposition=dict(data["disposition"]))
        return Response(selectors.profile_payload(bank))


class BankConfigView(APIView):
    def _require_config_api(self) -> None:
        if not settings.HINDSIGHT_ENABLE_BANK_CONFIG_API:
            raise NotFound("The bank configuration API is disabled on this server")

    @extend_schema(operation_id="get_bank_config", responses=BankConfigResponseSerializer)
    def get(self, request, bank_id: str):
        return Response(selectors.config_payload(selectors.get_bank(bank_id=bank_id)))

    @extend_schema(
        operation_id="update_bank_config", request=BankConfigUpdateSerializer, responses=BankConfigResponseSerializer
    )
    def patch(self, request, bank_id: str):
        self._require_config_api()
        data = parse_body(request, BankConfigUpdateSerializer)
        bank = services.get_or_create_bank(bank_id=bank_id)
        bank = services.update_bank_config(bank=bank, updates=data["updates"])
        return Response(selectors.config_payload(bank))

    @extend_schema(operation_id="reset_bank_config", responses={200: BankConfigResponseSerializer})
    def delete(self, request, bank_id: str):
        self._require_config_api()
        bank = services.reset_bank_config(bank=selectors.get_bank(bank_id=bank_id))
        return Response(selectors.config_payload(bank))


class BankLlmHealthView(APIView):
    """Probe the LLMs this bank would use; status only. A deliberate action (real provider calls), not for polling."""

    read_only_safe = True  # it stores nothing

    @extend_schema(operation_id="test_bank_llm", request=None, responses={200: BankLlmHealthResponseSerializer})
    def post(self, request, bank_id: str):
        if not settings.HINDSIGHT_ENABLE_BANK_LLM_HEALTH:
            raise NotImplementedByServer("The LLM probe is turned off here (HINDSIGHT_API_ENABLE_BANK_LLM_HEALTH).")
        # Models are server-wide, so the probe needs no bank row and creates none.
        return Response({"bank_id": bank_id, "operations": llm.probe()})


# The bank template manifest, described by the same JSON Schema ``GET /v1/bank-template-schema`` serves.
_MANIFEST = {k: v for k, v in templates.manifest_json_schema().items() if k != "$schema"}


class BankExportView(APIView):
    @extend_schema(operation_id="export_bank_template", responses={200: _MANIFEST})
    def get(self, request, bank_id: str):
        return Response(templates.export_template(bank=selectors.get_bank(bank_id=bank_id)))


class BankImportView(APIView):
    @extend_schema(
        operation_id="import_bank_template",
        parameters=[TemplateImportQuerySerializer],
        request={"application/json": _MANIFEST},
        responses={200: BankTemplateImportResponseSerializer},
    )
    def post(self, request, bank_id: str):
        query = parse_query(request, TemplateImportQuerySerializer)
        return Response(templates.import_template(bank_id=bank_id, manifest=request.data, dry_run=query["dry_run"]))


class BankTemplateSchemaView(APIView):
    @extend_schema(operation_id="get_bank_template_schema", responses={200: dict})
    def get(self, request):
        return Response(templates.manifest_json_schema())
