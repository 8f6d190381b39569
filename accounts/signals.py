"""What happens to an organization's people, for the apps that react to it (the tenants'
webhooks, in `domains.webhooks`) without accounts depending on them. Sent inside the
transaction of the change, so a reaction that records something commits or rolls back with it.
"""

from __future__ import annotations

from django.dispatch import Signal

# membership: the new `Membership`.
member_joined = Signal()
# organization_id, username, role: who left or was removed, and their role then.
member_removed = Signal()
# organization: an `Organization` whose deletion was just asked for (nobody belongs to it any
# more). Its domains and origins are to be removed from Cloudflare.
organization_deleting = Signal()
