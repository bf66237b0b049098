#!/bin/sh
# A monitoring plugin (Nagios conventions) in plain sh: is the filesystem holding PATH
# less full than PERCENT? Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one line of output
# with performance data after "|".
path=${1:-/}
limit=${2:-90}
used=$(df -P "$path" 2>/dev/null | awk 'NR==2 { sub("%", "", $5); print $5 }')
if [ -z "$used" ]; then
    echo "UNKNOWN - cannot read disk usage of $path"
    exit 3
fi
if [ "$used" -ge "$limit" ]; then
    echo "CRITICAL - $path is ${used}% full (limit ${limit}%) | used=${used}%;;${limit};0;100"
    exit 2
fi
echo "OK - $path is ${used}% full | used=${used}%;;${limit};0;100"
exit 0
