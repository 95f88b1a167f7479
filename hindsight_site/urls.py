"""URL map: the contract's API at its own paths, the admin under /admin/."""

from django.contrib import admin
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
    # The htmx control plane takes over "/" in its own issue; until then operators land in the admin.
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
]

handler404 = "hindsight_site.api.not_found"
handler500 = "hindsight_site.api.server_error"
