"""Inbound adapters: Open311 GeoReport v2, the signed camera and police feeds, the 12345
hotline import. They sit on the HTTP layer and file whistles through the intake."""
