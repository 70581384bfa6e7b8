// What Icarus costs per access and per idle edge on the RTL server's bench: cim_tb_top
// (its HDL transactor, recorder and clock around cim_macro), driven the way cocotb drives
// it (programs written into prog_hi/prog_lo, req_seq raised, ack_seq awaited) but from
// Verilog, so no cocotb, Python or model runs.  Run by rtl_bench.py (simulation only).
//   CASE 11  N idle edges: programs of one IDLE of up to 2,000 edges and one read
//   CASE 12  N register writes (SEED), programs of 256
//   CASE 13  N INBUF word writes (words 0..15 in turn), programs of 256
//   CASE 14  N OUTBUF word reads (words 0..15 in turn), programs of 256
// Program entries as the revision's cim_tb_xact.vh lays them out (the layout's one source,
// xact.py); only WRITE, READ and IDLE, which every revision's bench has.
`timescale 1ns / 1ps
`include "cim_reg_pkg.svh"
module rtl_bench_xact import cim_reg_pkg::*; ();
  cim_tb_top #(.NTiles(8), .Rows(256), .Cols(64)) u_tb ();
  `include "cim_tb_xact.vh"

  // the upper program word (prog_hi) of each op, strobes all set; ADDR goes below
  localparam logic [31:0] HiWrite = (32'(OpWrite) << (ProgOpLsb - 32))
                                    | (32'hF << (ProgStrbLsb - 32));
  localparam logic [31:0] HiRead  = (32'(OpRead) << (ProgOpLsb - 32))
                                    | (32'hF << (ProgStrbLsb - 32));
  localparam logic [31:0] HiIdle  = 32'(OpIdle) << (ProgOpLsb - 32);

  integer i, k, n;
  reg [63:0] e;
  initial begin
    #42 u_tb.rst_ni = 1'b1;
    #3;
    k = 0;
    while (k < `N) begin
      if (`CASE == 11) begin
        n = (`N - k > 2000) ? 2000 : `N - k;
        e = u_tb.edge_q + 64'(n) + 64'd2;
        u_tb.prog_hi[0] = HiIdle | 32'(e[ProgUntilW - 1:32]);
        u_tb.prog_lo[0] = e[31:0];
        u_tb.prog_hi[1] = HiRead | 32'(ADDR_ID);
        u_tb.prog_lo[1] = 32'd0;
        u_tb.prog_len = 2;
      end else begin
        n = (`N - k > 256) ? 256 : `N - k;
        for (i = 0; i < n; i = i + 1) begin
          case (`CASE)
            12: begin
              u_tb.prog_hi[i] = HiWrite | 32'(ADDR_SEED);
              u_tb.prog_lo[i] = k + i;
            end
            13: begin
              u_tb.prog_hi[i] = HiWrite | (32'(ADDR_INBUF) + 4 * (i % 16));
              u_tb.prog_lo[i] = 32'h0101_0101 * (k + i);
            end
            default: begin
              u_tb.prog_hi[i] = HiRead | (32'(ADDR_OUTBUF) + 4 * (i % 16));
              u_tb.prog_lo[i] = 32'd0;
            end
          endcase
        end
        u_tb.prog_len = n;
      end
      u_tb.req_seq = u_tb.req_seq + 1;
      wait (u_tb.ack_seq == u_tb.req_seq);
      #1;
      k = k + n;
    end
    $finish;
  end
endmodule
