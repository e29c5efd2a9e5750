"""Reading captures: opening (compression, stdin), printk/syslog/journal/kmsg prefixes, and the
line stage that turns bytes into the `lines` table."""
