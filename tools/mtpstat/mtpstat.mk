# tools/mtpstat/: build/bin/mtpstat, the MTP sockets and counters of running processes (read
# from what libmtp.so publishes, preload/libmtp_stat.c).
BINS += $(MTPSTAT)

$(MTPSTAT): tools/mtpstat/mtpstat.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@
