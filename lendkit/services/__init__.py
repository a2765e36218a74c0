"""Use cases over a unit of work: parties, custody, listings, bidding, loans, cob, reports."""
