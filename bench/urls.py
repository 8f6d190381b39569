"""The benchmark server's URLs: the product's, plus the bare baseline view."""

from __future__ import annotations

from django.urls import path

from bench.instrument import hello
from dcvaas.urls import urlpatterns as product_urlpatterns

urlpatterns = [path("bench/hello/", hello, name="bench-hello"), *product_urlpatterns]
