"""URL map: the contract's API at its own paths, the admin under /admin/, the control plane at / and /banks/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Hindsight administration"
admin.site.site_title = "Hindsight admin"
admin.site.index_title = "Banks, memories and operations"

urlpatterns = [
    path("", include("hindsight_site.api.urls")),
    path("", include("banks.api.urls")),
    path("", include("memories.api.urls")),
    path("", include("directives.api.urls")),
    path("", include("apikeys.api.urls")),
    # Contract routes we do not offer answer 501 with a detail (after every served route).
    path("", include("hindsight_site.api.unserved")),
    path("admin/", admin.site.urls),
    # --- the control plane (server-rendered pages; URL names start with "control-", which requires sign-in) ---
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", RedirectView.as_view(pattern_name="control-banks", permanent=False), name="control-home"),
    path("", include("banks.urls")),
    path("", include("apikeys.urls")),
    # The bank tabs over memories (memories, entities, documents, recall) and directives (reflect, directives,
    # mental models).
    path("", include("memories.urls")),
    path("", include("directives.urls")),
]

handler400 = "hindsight_site.api.bad_request"
handler403 = "hindsight_site.api.permission_denied"
handler404 = "hindsight_site.api.not_found"
handler500 = "hindsight_site.api.server_error"
