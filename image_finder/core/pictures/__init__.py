"""Reading picture files: safe decoding, brightness layouts, facts, folder scans."""
