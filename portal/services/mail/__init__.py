"""The email channel. ``tokens`` signs what we send so replies thread back to the right ticket and person;
``parse`` reads a message strictly; ``content`` turns it into safe text and attachments; ``threading`` decides which
ticket a message belongs to; ``pipeline`` stores, classifies and applies each message (one bad message never stops
the others); ``imap`` polls a mailbox."""
