"""The embeddable support widget: sites, signed identities, the widget session a verified identity is exchanged
for."""
