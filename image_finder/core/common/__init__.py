"""What every part shares: errors, fault points, records, paths, logging."""
